package org.peft4j.core.kernel;

/** The CPU kernels with plain loops against the portable kernels. */
class ScalarKernelParityTest extends KernelParityTest {
    @Override
    RowMath math() {
        return new ScalarRowMath();
    }
}
