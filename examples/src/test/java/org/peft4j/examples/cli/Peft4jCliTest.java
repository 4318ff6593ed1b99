package org.peft4j.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class Peft4jCliTest {
    @TempDir
    Path dir;

    /** The exit code and what the command wrote to its out and err. */
    record Run(int exitCode, String out, String err) {
        List<String> errLines() {
            return err.lines().toList();
        }
    }

    static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = Peft4jCli.commandLine();
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        int code = cli.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    @Test
    void helpOfEveryCommandExitsZero() {
        Run top = run("--help");
        assertEquals(0, top.exitCode(), top.err());
        assertTrue(top.out().contains("pretrain"), top.out());
        for (String name : Peft4jCli.commandLine().getSubcommands().keySet()) {
            Run sub = run(name, "--help");
            assertEquals(0, sub.exitCode(), name + ": " + sub.err());
            assertTrue(sub.out().contains("Usage: peft4j " + name), name + ": " + sub.out());
        }
    }

    @Test
    void versionExitsZero() {
        Run version = run("--version");
        assertEquals(0, version.exitCode());
        assertTrue(version.out().startsWith("peft4j "), version.out());
    }

    @Test
    void noCommandIsAUsageError() {
        Run none = run();
        assertEquals(Peft4jCli.EXIT_USAGE, none.exitCode());
        assertTrue(none.err().contains("Usage: peft4j"), none.err());
        assertEquals(Peft4jCli.EXIT_USAGE, run("frobnicate").exitCode());
    }

    @Test
    void badOptionsGiveOneLineNamingTheOption() {
        String out = dir.resolve("out").toString();
        assertUsageError(run("pretrain", "--heads", "3", "--hidden", "32", "--out", out), "--heads");
        assertUsageError(run("pretrain", "--kernels", "fast", "--out", out), "--kernels");
        assertUsageError(run("pretrain", "--lr", "-1", "--out", out), "--lr");
        assertUsageError(run("pretrain", "--warmup", "50", "--steps", "10", "--out", out), "--warmup");
        assertUsageError(run("pretrain", "--steps", "ten", "--out", out), "--steps");
        assertUsageError(run("pretrain", "--data", dir.resolve("missing.txt").toString(), "--out", out), "--data");
        assertUsageError(run("pretrain"), "--out");
        assertFalse(Files.exists(dir.resolve("out")), "nothing is written for invalid options");
    }

    @Test
    void failuresAreOneLineWithoutStackTraceUnlessVerbose() throws Exception {
        Path jsonl = Files.writeString(dir.resolve("bad.jsonl"), "{\"body\":\"no text field\"}\n");
        String[] args = {"pretrain", "--data", jsonl.toString(), "--out", dir.resolve("out").toString()};
        Run quiet = run(args);
        assertEquals(Peft4jCli.EXIT_FAILURE, quiet.exitCode());
        assertEquals(1, quiet.errLines().size(), quiet.err());
        assertTrue(quiet.err().startsWith("peft4j pretrain: error: ") && quiet.err().contains("\"text\""), quiet.err());

        Run verbose = run(append(args, "--verbose"));
        assertEquals(Peft4jCli.EXIT_FAILURE, verbose.exitCode());
        assertTrue(verbose.err().contains("\tat org.peft4j."), "stack trace with --verbose: " + verbose.err());
        String[] verboseFirst = new String[args.length + 1];
        verboseFirst[0] = "--verbose";
        System.arraycopy(args, 0, verboseFirst, 1, args.length);
        assertTrue(run(verboseFirst).err().contains("\tat org.peft4j."), "--verbose before the command works too");
    }

    @Test
    void tooLittleTextIsAUsageErrorNamingTheFix() throws Exception {
        Path text = Files.writeString(dir.resolve("short.txt"), "one short line\nanother\n");
        Run r = run("pretrain", "--data", text.toString(), "--seq-len", "64", "--out", dir.resolve("out").toString());
        assertUsageError(r, "--seq-len");
    }

    private static void assertUsageError(Run r, String option) {
        assertEquals(Peft4jCli.EXIT_USAGE, r.exitCode(), r.err());
        assertEquals(1, r.errLines().size(), "one line: " + r.err());
        assertTrue(r.err().startsWith("peft4j pretrain: ") && r.err().contains(option), r.err());
    }

    private static String[] append(String[] args, String extra) {
        String[] all = java.util.Arrays.copyOf(args, args.length + 1);
        all[args.length] = extra;
        return all;
    }
}
