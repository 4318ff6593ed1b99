package org.peft4j.core.tuner;

import java.util.List;
import java.util.Set;
import org.peft4j.core.nn.Module;

/** A {@link ModulesToSave} whose state is a {@link CopySet}: the two wrappers differ only in the module type they wrap. */
interface CopySetWrapper extends ModulesToSave {
    /** The wrapper's copies and choices. */
    CopySet copySet();

    @Override
    default Module originalModule() {
        return copySet().original();
    }

    @Override
    default Set<String> adapterNames() {
        return copySet().adapterNames();
    }

    @Override
    default Module copyOf(String adapter) {
        return copySet().copyOf(adapter);
    }

    @Override
    default void addAdapter(String adapter, String owner) {
        copySet().add(adapter, owner);
    }

    @Override
    default void deleteAdapter(String adapter) {
        copySet().delete(adapter);
    }

    @Override
    default void setActiveAdapter(String adapter) {
        copySet().setActive(adapter);
    }

    @Override
    default String activeAdapter() {
        return copySet().active();
    }

    @Override
    default void setEnabled(boolean enabled) {
        copySet().setEnabled(enabled);
    }

    @Override
    default void setSequenceAdapters(List<String> perSequence) {
        copySet().setPerSequence(perSequence);
    }

    @Override
    default Module current() {
        return copySet().current();
    }
}
