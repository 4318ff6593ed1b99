/** Training data: text corpora and batch sources that give any batch by (epoch, index). */
package org.peft4j.core.data;
