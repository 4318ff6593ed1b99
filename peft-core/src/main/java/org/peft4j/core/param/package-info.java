/**
 * Parameters and their registry: every param is frozen (no gradient buffer) or trainable, belongs to
 * the base model or to a method, and has the dotted path HF uses for it; the registry freezes,
 * unfreezes, counts, exports and imports them by path.
 */
package org.peft4j.core.param;
