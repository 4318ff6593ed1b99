package org.peft4j.examples.cli;

import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * The base of every {@code peft4j} subcommand: access to the command's output streams and a way to report
 * a bad option value as a usage error (exit code {@value Peft4jCli#EXIT_USAGE}, one line naming the option).
 * A subcommand annotates itself with {@code @Command}, declares its {@code @Option}s and implements
 * {@link #call()}; any other exception it throws becomes a one-line failure (exit code
 * {@value Peft4jCli#EXIT_FAILURE}).
 */
public abstract class CliCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    /** Where results go (stdout unless redirected); keep it for machine-readable output. */
    protected PrintWriter out() {
        return spec.commandLine().getOut();
    }

    /** Where messages go (stderr unless redirected). */
    protected PrintWriter err() {
        return spec.commandLine().getErr();
    }

    /** A usage error to throw: {@code message} should name the option and what is allowed. */
    protected ParameterException usageError(String message) {
        return new ParameterException(spec.commandLine(), message);
    }

    /** The value of a {@code --kernels} option; an unknown name is a usage error listing the allowed ones. */
    protected org.peft4j.core.kernel.KernelChoice kernelsOption(String value) {
        try {
            return org.peft4j.core.kernel.KernelChoice.parse(value);
        } catch (IllegalArgumentException e) {
            throw usageError("--kernels: " + e.getMessage());
        }
    }
}
