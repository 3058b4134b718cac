/**
 * A load process: `node --conditions=llmratelimiter-source --import tsx child.ts`, driven over IPC. Each
 * `{ type: "run", id, scenario }` message runs the load and answers `{ type: "report", id, report }`;
 * `{ type: "exit" }` ends the process. Progress goes out as `{ type: "tick", status }` when asked.
 */
import { type LoadReport, runLoad, type Scenario } from "./run.js";

type Message = { type: "run"; id: number; scenario: Scenario; ticks?: boolean } | { type: "exit" };

process.on("message", (message: Message) => {
  if (message.type === "exit") {
    process.disconnect?.();
    return;
  }
  const ticks = message.ticks === true;
  void runLoad(message.scenario, ticks ? { onResult: (status) => process.send?.({ type: "tick", status }) } : {}).then(
    (report: LoadReport) => process.send?.({ type: "report", id: message.id, report }),
    (error: unknown) =>
      process.send?.({
        type: "failed",
        id: message.id,
        error: error instanceof Error ? (error.stack ?? String(error)) : String(error),
      }),
  );
});
// The parent is gone (finished or killed): nothing more will be asked of this process.
process.on("disconnect", () => process.exit(0));
process.send?.({ type: "ready" });
