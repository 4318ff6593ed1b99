package org.peft4j.examples.cli;

import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.HelpCommand;
import picocli.CommandLine.IVersionProvider;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

/**
 * The {@code peft4j} command-line tool: a picocli top-level command whose subcommands each live in their
 * own class; add a subcommand by listing its class in {@code subcommands} below.
 *
 * <p>Exit codes: {@value #EXIT_OK} success, {@value #EXIT_FAILURE} a failure while running,
 * {@value #EXIT_USAGE} bad options or arguments; a subcommand may define more (see its help). Errors are
 * reported as one line on stderr; {@code --verbose} adds the stack trace.
 */
@Command(name = "peft4j",
        scope = ScopeType.INHERIT,                     // subcommands get --help, --version and --verbose too
        mixinStandardHelpOptions = true,
        versionProvider = Peft4jCli.Version.class,
        description = {"Parameter-efficient fine-tuning of transformers on the JVM.",
            "Run 'peft4j COMMAND --help' for the options of a command."},
        synopsisSubcommandLabel = "COMMAND",
        commandListHeading = "%nCommands:%n",
        subcommands = {
            HelpCommand.class,
            PretrainCommand.class,
            BenchCommand.class,
            DataCommand.class,
            InfoCommand.class,
            LogitsCommand.class,
            TrainCommand.class,
            EvalCommand.class,
            GenerateCommand.class,
            MergeCommand.class,
        })
public final class Peft4jCli implements Callable<Integer> {
    /** The command succeeded. */
    public static final int EXIT_OK = 0;
    /** The command failed while running. */
    public static final int EXIT_FAILURE = 1;
    /** The options or arguments were invalid. */
    public static final int EXIT_USAGE = 2;

    @Option(names = "--verbose", scope = ScopeType.INHERIT, description = "Print the stack trace of an error.")
    boolean verbose;

    @Spec
    CommandSpec spec;

    /** Runs the tool and exits the JVM with its exit code. */
    public static void main(String[] args) {
        int code;
        try {
            code = commandLine().execute(args);
        } catch (ExceptionInInitializerError | NoClassDefFoundError e) {
            if (!isNoBackend(e)) {
                throw e;
            }
            System.err.println("peft4j: error: " + NO_BACKEND);
            code = EXIT_FAILURE;
        }
        System.exit(code);
    }

    /** What to tell a user whose ND4J backend did not start (ND4J's own warnings above it say why each was skipped). */
    static final String NO_BACKEND = "no ND4J backend could start (the warnings above name the cause). The class path needs one backend:"
            + " nd4j-native (CPU) or nd4j-cuda-11.6 (an NVIDIA GPU of compute capability 3.7 to 8.9, not Hopper; driver >= 510;"
            + " libcuda.so.1 on the library path); see docs/gpu.md";

    /** True if {@code e} is ND4J failing to find or start a backend (its Nd4j class then cannot be used at all). */
    static boolean isNoBackend(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            String message = String.valueOf(t.getMessage());
            if (t.getClass().getName().endsWith("NoAvailableBackendException") || message.contains("org.nd4j.linalg.factory.Nd4j")) {
                return true;
            }
        }
        return false;
    }

    /** The configured command line: error handlers, case-insensitive enum values; set its out and err to capture output. */
    public static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new Peft4jCli());
        cli.setCaseInsensitiveEnumValuesAllowed(true);
        cli.setParameterExceptionHandler(Peft4jCli::handleUsageError);
        cli.setExecutionExceptionHandler(Peft4jCli::handleFailure);
        return cli;
    }

    /** Without a command: prints the usage to stderr. */
    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getErr());
        return EXIT_USAGE;
    }

    /** One line naming the command and what is wrong, then where to find the options. */
    private static int handleUsageError(ParameterException e, String[] args) {
        CommandLine cmd = e.getCommandLine();
        PrintWriter err = cmd.getErr();
        String path = commandPath(cmd);
        err.println(path + ": " + e.getMessage() + " (see '" + path + " --help')");
        err.flush();
        return EXIT_USAGE;
    }

    /** One line naming the command and the failure; the stack trace only with --verbose. */
    private static int handleFailure(Exception e, CommandLine cmd, ParseResult parsed) {
        PrintWriter err = cmd.getErr();
        if (verboseRequested(parsed)) {
            e.printStackTrace(err);
        }
        err.println(commandPath(cmd) + ": error: " + describe(e) + (verboseRequested(parsed) ? "" : " (--verbose shows the stack trace)"));
        err.flush();
        return EXIT_FAILURE;
    }

    /** True if --verbose was given to the top-level command or to any subcommand on the way. */
    private static boolean verboseRequested(ParseResult parsed) {
        for (ParseResult r = parsed; r != null; r = r.subcommand()) {
            if (r.hasMatchedOption("--verbose")) {
                return true;
            }
        }
        return false;
    }

    /** "peft4j pretrain" for the pretrain subcommand. */
    private static String commandPath(CommandLine cmd) {
        return cmd.getCommandSpec().qualifiedName(" ");
    }

    /** The message of an exception, with its type where the message alone says too little, and the cause of a wrapper. */
    static String describe(Throwable e) {
        Throwable shown = e instanceof UncheckedIOException && e.getCause() != null ? e.getCause() : e;
        String message = shown instanceof java.nio.file.FileSystemException fs ? describeFile(fs) : shown.getMessage();
        boolean plain = shown instanceof IllegalArgumentException || shown instanceof IllegalStateException
                || shown.getClass() == java.io.IOException.class || shown instanceof java.nio.file.FileSystemException;
        String text = message == null || message.isBlank() ? shown.getClass().getSimpleName()
                : plain ? message : shown.getClass().getSimpleName() + ": " + message;
        if (shown != e && e.getMessage() != null && !e.getMessage().equals(message)) {
            text = e.getMessage() + ": " + text;
        }
        return text;
    }

    /** A file-system failure in words: the file, then the reason ("no such file" where the JDK gives none). */
    private static String describeFile(java.nio.file.FileSystemException e) {
        if (e.getReason() != null) {
            return e.getMessage();
        }
        String what = e instanceof java.nio.file.NoSuchFileException ? "no such file or directory"
                : e instanceof java.nio.file.AccessDeniedException ? "permission denied"
                : e instanceof java.nio.file.FileAlreadyExistsException ? "already exists"
                : e instanceof java.nio.file.NotDirectoryException ? "not a directory"
                : e.getClass().getSimpleName();
        return e.getFile() + ": " + what + (e.getOtherFile() == null ? "" : " (" + e.getOtherFile() + ")");
    }

    /** The version from the jar's manifest, and the Java runtime. */
    static final class Version implements IVersionProvider {
        @Override
        public String[] getVersion() {
            String version = Peft4jCli.class.getPackage().getImplementationVersion();
            return new String[] {"peft4j " + (version == null ? "(development build)" : version),
                "Java " + System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + ")"};
        }
    }
}
