// A parent in Node.js: run one command under jobwrap and read its events
// from a fourth stdio entry, line by line.
//
// usage: node parent.js [JOBWRAP_OPTION...] -- COMMAND [ARG...]
//
// Prints "SEQ EVENT" per event, then how the run ended; exits with
// jobwrap's status.
"use strict";
const { spawn } = require("node:child_process");
const { once } = require("node:events");
const readline = require("node:readline");

async function main(args) {
  // stdio[3] is a pipe that jobwrap gets as fd 3.  stdin is not the
  // server's to give away: the job would inherit it.
  const child = spawn(process.env.JOBWRAP || "jobwrap",
    ["--events-fd", "3", ...args],
    { stdio: ["ignore", "inherit", "inherit", "pipe"] });
  await once(child, "spawn");  // rejects if jobwrap cannot be started
  // Listen now: "close" may come while the lines are still being read.
  const closed = once(child, "close");

  let seq = 0;
  let end = null;
  const lines = readline.createInterface({ input: child.stdio[3] });
  for await (const line of lines) {
    const ev = JSON.parse(line);
    // Seqs have no gap; a gap means this reader lost events, and the
    // events file or the status file must be asked instead.
    if (ev.seq !== seq + 1) throw new Error(`seq ${ev.seq} after ${seq}`);
    seq = ev.seq;
    console.log(ev.seq, ev.event);
    if (ev.event === "exit") end = ev;
  }

  const [code, signal] = await closed;
  if (end) {
    console.log(`ended: ${end.state}, exit code ${end.exit_code}`);
  } else {
    // jobwrap failed before starting (125), or dropped a reader too slow
    // for it: its status file, if any, has the end.
    console.log(`no exit event; jobwrap exited ${code ?? signal}`);
  }
  return code ?? 125;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(err.message); process.exitCode = 125; });
