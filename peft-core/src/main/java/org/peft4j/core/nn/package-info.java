/**
 * The module tree and the layers of the engine: every {@link org.peft4j.core.nn.Layer} has a forward
 * pass and a hand-written backward pass over 2-D activations {@code [batch·seq, features]}; a
 * {@link org.peft4j.core.nn.Tape} carries what backward needs; {@link org.peft4j.core.nn.Slot}s let
 * methods replace any child with a wrapper, and {@link org.peft4j.core.nn.InputHook}s let them change
 * a model's input sequence.
 */
package org.peft4j.core.nn;
