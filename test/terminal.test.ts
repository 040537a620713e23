/**
 * The terminal's status line: a run step's latest output rewritten in place, cleared
 * before any other line, and never wider than the terminal.
 */
import { describe, expect, it } from "vitest";
import { terminalStderr } from "../src/cli/terminal.ts";

describe("stderr on a terminal", () => {
  it("rewrites the status line in place and clears it before an ordinary line", () => {
    const written: string[] = [];
    const stderr = terminalStderr((s) => written.push(s), () => 80);
    stderr.line("step compile: [\"make\"]");
    stderr.status("compile | cc -c a.c");
    stderr.status("compile | cc -c b.c");
    stderr.line("layer compile: built");
    stderr.status(undefined);
    expect(written.join("")).toBe('step compile: ["make"]\n\r\x1b[2Kcompile | cc -c a.c\r\x1b[2Kcompile | cc -c b.c\r\x1b[2Klayer compile: built\n');
  });

  it("cuts a status line to the terminal's width, and flattens its control characters", () => {
    const written: string[] = [];
    const stderr = terminalStderr((s) => written.push(s), () => 21);
    stderr.status("build | a\tlong line of output");
    stderr.status(undefined);
    expect(written).toEqual(["\r\x1b[2Kbuild | a long line…", "\r\x1b[2K"]);
  });
});
