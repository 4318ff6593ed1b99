package org.peft4j.core.kernel;

// The lane-wise e^x before and after reading the rounded exponent from the float bits instead of a
// float-to-int conversion, side by side in one JVM. Run from the repository root after a build:
//   javac --add-modules jdk.incubator.vector -cp peft-core/target/classes -d /tmp/expbench benchmarks/micro/ExpBench.java
//   java --add-modules jdk.incubator.vector -cp peft-core/target/classes:/tmp/expbench:"examples/target/lib/*" org.peft4j.core.kernel.ExpBench
import jdk.incubator.vector.*;
import static org.peft4j.core.kernel.FastMath.*;
public class ExpBench {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static FloatVector oldExp(FloatVector x) {
        FloatVector c = x.max(EXP_MIN).min(EXP_MAX);
        FloatVector n = c.mul(LOG2E).add(ROUND_MAGIC).sub(ROUND_MAGIC);
        FloatVector r = c.sub(n.mul(LN2_HI)).sub(n.mul(LN2_LO));
        FloatVector p = r.mul(1f / 5040).add(1f / 720).mul(r).add(1f / 120).mul(r).add(1f / 24).mul(r).add(1f / 6).mul(r).add(0.5f).mul(r).add(1f).mul(r).add(1f);
        IntVector bits = ((IntVector) n.convert(VectorOperators.F2I, 0)).add(127).lanewise(VectorOperators.LSHL, 23);
        FloatVector scaled = p.mul(bits.reinterpretAsFloats());
        return scaled.blend(0f, x.compare(VectorOperators.LT, EXP_MIN)).blend(Float.POSITIVE_INFINITY, x.compare(VectorOperators.GT, EXP_MAX));
    }
    public static void main(String[] a) {
        float[] xs = new float[4096]; float[] out = new float[4096];
        for (int i = 0; i < xs.length; i++) xs[i] = (float) Math.sin(i) * 20;
        for (int round = 0; round < 6; round++) {
            long t0 = System.nanoTime();
            for (int rep = 0; rep < 20000; rep++) for (int i = 0; i < xs.length; i += F.length()) oldExp(FloatVector.fromArray(F, xs, i)).intoArray(out, i);
            long t1 = System.nanoTime();
            for (int rep = 0; rep < 20000; rep++) for (int i = 0; i < xs.length; i += F.length()) VectorRowMath.exp(FloatVector.fromArray(F, xs, i)).intoArray(out, i);
            long t2 = System.nanoTime();
            System.out.printf("old %.2f ns/elem, new %.2f ns/elem, ratio new/old %.2f%n", (t1-t0)/8.192e7, (t2-t1)/8.192e7, (double)(t2-t1)/(t1-t0));
        }
    }
}
