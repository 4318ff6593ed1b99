/** Tokenizers: byte-level, and HF {@code tokenizer.json} files. */
package org.peft4j.core.tokenizer;
