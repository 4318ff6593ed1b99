package org.peft4j.core.kernel;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CPU kernels with SIMD loops against the portable kernels. Needs {@code --add-modules
 * jdk.incubator.vector}, which the pom's surefire argLine sets; without it the test fails rather than
 * silently testing the scalar loops twice.
 */
class VectorKernelParityTest extends KernelParityTest {
    @Override
    RowMath math() {
        RowMath best = RowMath.best();
        assertTrue(best.name().startsWith("vector"), "run with --add-modules jdk.incubator.vector (the pom's surefire argLine): got "
                + best.name());
        return best;
    }
}
