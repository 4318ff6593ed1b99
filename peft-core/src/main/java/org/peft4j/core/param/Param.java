package org.peft4j.core.param;

import java.util.Arrays;
import java.util.Objects;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A named tensor owned by one module. Every param is either frozen or trainable; only a trainable
 * param carries a gradient buffer, so a frozen param costs no gradient memory and cannot accumulate
 * a gradient by accident.
 *
 * <p>The name is local to the owning module ({@code "weight"}); the full dotted path
 * ({@code "transformer.h.0.attn.c_attn.weight"}) is given by {@link ParamRegistry}. The owner says who
 * created the param: {@link #BASE_OWNER} for the pretrained model, or a method's id.
 */
public final class Param implements AutoCloseable {
    /** Owner of the parameters of the base (pretrained) model. */
    public static final String BASE_OWNER = "base";

    private final String name;
    private final String owner;
    private final INDArray value;
    private INDArray grad;

    private Param(String name, String owner, INDArray value, boolean trainable) {
        if (name == null || name.isEmpty() || name.contains(".")) {
            throw new IllegalArgumentException("param name must be a non-empty local name without '.', got '" + name + "'");
        }
        if (owner == null || owner.isBlank()) {
            throw new IllegalArgumentException("param '" + name + "' needs an owner, e.g. \"" + BASE_OWNER + "\"");
        }
        this.name = name;
        this.owner = owner;
        this.value = Objects.requireNonNull(value, "value of param " + name).isAttached() ? value.detach() : value;
        setTrainable(trainable);
    }

    /** A frozen param of the base model. */
    public static Param frozen(String name, INDArray value) {
        return new Param(name, BASE_OWNER, value, false);
    }

    /** A trainable param of the base model. */
    public static Param trainable(String name, INDArray value) {
        return new Param(name, BASE_OWNER, value, true);
    }

    /** A param created by a method (owner = the method's id); trainable or not. */
    public static Param owned(String name, String owner, INDArray value, boolean trainable) {
        return new Param(name, owner, value, trainable);
    }

    public String name() {
        return name;
    }

    /** {@link #BASE_OWNER} or the id of the method that created this param. */
    public String owner() {
        return owner;
    }

    /** The tensor itself; updated in place by optimizers and loaders. */
    public INDArray value() {
        return value;
    }

    public long[] shape() {
        return value.shape();
    }

    public long length() {
        return value.length();
    }

    public boolean isTrainable() {
        return grad != null;
    }

    /** The gradient buffer; fails for frozen params instead of returning null. */
    public INDArray grad() {
        if (grad == null) {
            throw new IllegalStateException("param '" + name + "' is frozen and has no gradient");
        }
        return grad;
    }

    /**
     * Freezes or unfreezes this param. Unfreezing allocates a zeroed gradient buffer outside any
     * workspace; freezing releases it.
     */
    public void setTrainable(boolean trainable) {
        if (trainable && grad == null) {
            try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
                grad = Nd4j.zeros(value.dataType(), value.shape());
            }
        } else if (!trainable && grad != null) {
            grad.close();
            grad = null;
        }
    }

    /** Sets the gradient to zero (no-op for frozen params). */
    public void zeroGrad() {
        if (grad != null) {
            grad.assign(0);
        }
    }

    /** Copies {@code source} into this param's value after checking the shape. */
    public void load(INDArray source, String path) {
        if (!Arrays.equals(source.shape(), value.shape())) {
            throw new IllegalArgumentException("cannot load '" + path + "': expected shape " + Arrays.toString(value.shape())
                    + ", got " + Arrays.toString(source.shape()));
        }
        value.assign(source);
    }

    /** Frees the gradient buffer and the value. Only the creator of the value should call this. */
    @Override
    public void close() {
        setTrainable(false);
        value.close();
    }

    @Override
    public String toString() {
        return name + Arrays.toString(value.shape()) + (isTrainable() ? " trainable" : " frozen") + " (" + owner + ")";
    }
}
