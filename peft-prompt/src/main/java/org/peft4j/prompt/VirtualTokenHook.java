package org.peft4j.prompt;

import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.peft4j.core.kernel.Kernels;
import org.peft4j.core.nn.SequenceContext;
import org.peft4j.core.nn.Slot;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.Param;
import org.peft4j.core.tuner.ModelHook;
import org.peft4j.core.tuner.PeftConfig;

/**
 * Virtual tokens prepended to the token embeddings of every sequence (Prompt Tuning, P-Tuning), as HF PEFT
 * prepends them to {@code inputs_embeds}: the sequence becomes n + T rows, the virtual tokens take positions
 * 0…n−1 and the real tokens n…n+T−1, and the attention mask gets n leading ones. During generation with a
 * cache they are prepended in the first pass only (later passes find them in the cache).
 *
 * <p>With a {@link PromptTemplate} (P-Tuning's templates) the rows are laid out as the template says (real tokens,
 * then the suffix, then padding; for a template without suffix, the same rows as without a template) and the
 * context records where the tokens went ({@link SequenceContext#insertRows}); a template that puts virtual tokens
 * after the input cannot be used with a generation cache.
 */
public final class VirtualTokenHook extends ModelHook {
    /** HF's checkpoint key of the prompt. */
    public static final String KEY = "prompt_embeddings";

    private final String methodId;
    private final PeftConfig config;
    private final Slot<PromptTable> prompt;
    private final Kernels kernels;
    /** Where the virtual tokens go; null: all before the input. */
    private final PromptTemplate template;

    /** {@code source}: for a template, the source row (tokens, then prompt) of every combined row; else null. */
    private record Saved(int batch, int tokens, int[] source) {
    }

    public VirtualTokenHook(String methodId, PeftConfig config, PromptTable prompt, Kernels kernels) {
        this(methodId, config, prompt, kernels, null);
    }

    /** Virtual tokens placed as {@code template} says (null: all before the input); its count must be the prompt's length. */
    public VirtualTokenHook(String methodId, PeftConfig config, PromptTable prompt, Kernels kernels, PromptTemplate template) {
        if (template != null && template.virtualTokens() != prompt.length()) {
            throw new IllegalArgumentException("template '" + template + "' places " + template.virtualTokens() + " virtual tokens but the prompt has "
                    + prompt.length());
        }
        this.template = template;
        this.methodId = methodId;
        this.config = config;
        this.prompt = child("prompt_encoder", PromptTable.class, prompt);
        this.kernels = kernels;
    }

    /** The prompt's table and encoder. */
    public PromptTable prompt() {
        return prompt.get();
    }

    @Override
    public String methodId() {
        return methodId;
    }

    @Override
    public PeftConfig config() {
        return config;
    }

    @Override
    protected INDArray apply(INDArray tokens, Tape tape) {
        SequenceContext ctx = tape.context();
        if (template != null && !template.isPrefix() && ctx.cache() != null) {
            throw new IllegalArgumentException("template '" + template + "' puts virtual tokens after the input, which generation with a cache "
                    + "cannot do (the suffix would have to move at every step); generate with a template whose virtual tokens all precede "
                    + "the input, e.g. '" + PromptTemplate.prefix(template.virtualTokens()) + "'");
        }
        if (ctx.cache() != null && ctx.cache().length() > 0) {
            tape.push(this, new Saved(-1, -1, null));                     // the virtual tokens are in the cache already
            return tokens;
        }
        int n = prompt.get().length();
        int batch = ctx.batch();
        int t = ctx.seqLen();
        INDArray p = prompt.get().forward(tape);                   // [n, d]
        if (p.columns() != tokens.columns()) {
            throw new IllegalArgumentException("virtual tokens have width " + p.columns() + " but the model's token embeddings have "
                    + tokens.columns() + "; token_dim must equal the hidden size");
        }
        if (template != null) {                                     // placed by the template (the same rows as below for a prefix)
            int[] tokenRows = new int[batch * t];
            int[] source = template.sourceOfRow(batch, t, sequenceMask(ctx), tokenRows);
            INDArray out = tape.kernels().gatherRows(Nd4j.vstack(tokens, p.castTo(tokens.dataType())), source);   // [B·(n+T), d]
            ctx.insertRows(n + t, tokenRows);
            tape.push(this, new Saved(batch, t, source));
            return out;
        }
        INDArray out = Nd4j.create(tokens.dataType(), (long) batch * (n + t), tokens.columns());
        for (int b = 0; b < batch; b++) {
            long at = (long) b * (n + t);
            out.get(NDArrayIndex.interval(at, at + n), NDArrayIndex.all()).assign(p);
            out.get(NDArrayIndex.interval(at + n, at + n + t), NDArrayIndex.all())
                    .assign(tokens.get(NDArrayIndex.interval((long) b * t, (long) (b + 1) * t), NDArrayIndex.all()));
        }
        ctx.prependTokens(n);
        tape.push(this, new Saved(batch, t, null));
        return out;
    }

    /** The mask entries {@code [batch·seqLen]} of this pass's own rows, or null when every key is visible. */
    private static int[] sequenceMask(SequenceContext ctx) {
        int[] keys = ctx.keyMask();
        if (keys == null) {
            return null;
        }
        int[] mask = new int[ctx.rows()];
        for (int b = 0; b < ctx.batch(); b++) {
            System.arraycopy(keys, b * ctx.keyLength() + ctx.pastLength(), mask, b * ctx.seqLen(), ctx.seqLen());
        }
        return mask;
    }

    @Override
    protected INDArray applyBackward(INDArray grad, Tape tape) {
        Saved s = tape.pop(this, Saved.class);
        if (s.batch() < 0) {
            return grad;
        }
        int n = prompt.get().length();
        int t = s.tokens();
        if (s.source() != null) {
            long tokenRows = (long) s.batch() * t;
            INDArray dSource = Nd4j.zeros(grad.dataType(), tokenRows + n, grad.columns());
            tape.kernels().scatterAddRows(dSource, s.source(), grad);
            prompt.get().backward(dSource.get(NDArrayIndex.interval(tokenRows, tokenRows + n), NDArrayIndex.all()).dup('c'), tape);
            return dSource.get(NDArrayIndex.interval(0, tokenRows), NDArrayIndex.all()).dup('c');
        }
        INDArray dPrompt = Nd4j.zeros(grad.dataType(), n, grad.columns());
        INDArray dTokens = Nd4j.create(grad.dataType(), (long) s.batch() * t, grad.columns());
        for (int b = 0; b < s.batch(); b++) {
            long at = (long) b * (n + t);
            dPrompt.addi(grad.get(NDArrayIndex.interval(at, at + n), NDArrayIndex.all()));
            dTokens.get(NDArrayIndex.interval((long) b * t, (long) (b + 1) * t), NDArrayIndex.all())
                    .assign(grad.get(NDArrayIndex.interval(at + n, at + n + t), NDArrayIndex.all()));
        }
        prompt.get().backward(dPrompt, tape);
        return dTokens;
    }

    /** HF's {@code prompt_embeddings}: the encoder's output for a trained prompt, the table itself for a flat one. */
    @Override
    public Map<String, INDArray> stateToSave() {
        return Map.of(KEY, prompt.get().evaluate(kernels));
    }

    @Override
    public Map<String, Param> loadableState() {
        return Map.of(KEY, prompt.get().table());
    }

    @Override
    public String describe() {
        return "VirtualTokenHook(" + methodId + ", n=" + prompt.get().length() + (template == null ? "" : ", template=" + template) + ")";
    }
}
