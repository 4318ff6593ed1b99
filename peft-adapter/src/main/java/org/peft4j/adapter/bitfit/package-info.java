/**
 * BitFit: {@link org.peft4j.adapter.bitfit.BitFitConfig}, the wrapper {@link org.peft4j.adapter.bitfit.BitFitLayer}
 * (a trainable change of a bias) and the method {@link org.peft4j.adapter.bitfit.BitFitMethod}. See docs/bitfit.md.
 */
package org.peft4j.adapter.bitfit;
