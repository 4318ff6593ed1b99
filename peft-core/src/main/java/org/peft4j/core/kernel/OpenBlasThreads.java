package org.peft4j.core.kernel;

import java.util.concurrent.atomic.AtomicBoolean;
import org.nd4j.linalg.api.blas.Blas;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Stops ND4J's OpenBLAS from using worker threads once the large products run in Java. After each
 * multi-threaded product OpenBLAS's workers spin for about 0.1 s before they sleep (its
 * {@code OPENBLAS_THREAD_TIMEOUT}, 2²⁸ cycles by default): on a 2-core machine one of them took a whole
 * core from the Java kernels that ran next, halving their speed (docs/benchmarks.md). With one thread
 * there are no workers; the products left to OpenBLAS are the thin ones (LoRA's rank-r factors).
 */
final class OpenBlasThreads {
    private static final Logger LOG = LoggerFactory.getLogger(OpenBlasThreads.class);
    private static final AtomicBoolean DONE = new AtomicBoolean();

    private OpenBlasThreads() {
    }

    /** Sets OpenBLAS to one thread, once per process, and says so in the log. */
    static void useOneThread() {
        if (!DONE.compareAndSet(false, true)) {
            return;
        }
        Blas blas = Nd4j.factory().blas();
        int before = blas.getMaxThreads();
        if (before > 1) {
            blas.setMaxThreads(1);
            LOG.info("large matrix products run in Java; OpenBLAS set from {} threads to 1 so that its idle workers do not spin "
                    + "against the Java kernels (-D{}=nd4j keeps ND4J's products and OpenBLAS's threads)", before, HostGemm.PROPERTY);
        }
    }
}
