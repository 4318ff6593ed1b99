/** GPT-2 ({@code GPT2LMHeadModel}) with HF's parameter paths and Conv1D weight layout. */
package org.peft4j.core.model.gpt2;
