/**
 * Text generation with a {@link org.peft4j.core.model.CausalLm}: {@link org.peft4j.core.model.generate.Generator}
 * decodes one sequence greedily or by seeded sampling ({@link org.peft4j.core.model.generate.GenerationConfig},
 * {@link org.peft4j.core.model.generate.Sampling} for temperature, top-k and top-p), running each token once
 * thanks to a key/value cache kept by a {@link org.peft4j.core.model.generate.DecodingSession}.
 */
package org.peft4j.core.model.generate;
