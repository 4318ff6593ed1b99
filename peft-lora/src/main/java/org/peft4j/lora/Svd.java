package org.peft4j.lora;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/** The thin singular value decomposition W = U·diag(S)·Vᵀ in double precision, through ND4J's LAPACK {@code gesvd}. */
final class Svd {
    /**
     * @param u  left singular vectors {@code [m, k]}
     * @param s  singular values, descending {@code [k]}
     * @param vt right singular vectors as rows {@code [k, n]}
     */
    record Result(INDArray u, INDArray s, INDArray vt) {
    }

    private Svd() {
    }

    /** The SVD of {@code w} {@code [m, n]} with k = min(m, n); every array is a new c-ordered DOUBLE array outside workspaces. */
    static Result of(INDArray w) {
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            long m = w.rows();
            long n = w.columns();
            if (m < n) {                                   // W = (Wᵀ)ᵀ = (U'·S·V'ᵀ)ᵀ = V'·S·U'ᵀ
                Result t = of(w.transpose());
                return new Result(t.vt().transpose().dup('c'), t.s(), t.u().transpose().dup('c'));
            }
            INDArray a = w.castTo(DataType.DOUBLE).dup('f');  // gesvd overwrites its input
            INDArray s = Nd4j.create(DataType.DOUBLE, n);
            INDArray u = Nd4j.create(DataType.DOUBLE, new long[] {m, m}, 'f');
            INDArray vt = Nd4j.create(DataType.DOUBLE, new long[] {n, n}, 'f');
            Nd4j.getBlasWrapper().lapack().gesvd(a, s, u, vt);
            INDArray thinU = u.get(NDArrayIndex.all(), NDArrayIndex.interval(0, n)).dup('c');
            return new Result(thinU, s.reshape(n).dup('c'), vt.dup('c'));
        }
    }
}
