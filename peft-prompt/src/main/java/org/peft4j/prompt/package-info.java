/** Prompt Tuning, P-Tuning v1/v2 and Prefix Tuning: not written yet, see docs/architecture.md for the hooks they use. */
package org.peft4j.prompt;
