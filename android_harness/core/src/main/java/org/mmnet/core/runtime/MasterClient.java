package org.mmnet.core.runtime;

/**
 * The master in the cloud. {@link org.mmnet.core.remote.TfServingMasterClient} implements it over
 * the TF Serving REST API; tests implement it with scripted replies. Calls block.
 */
public interface MasterClient {
    /** The master's probabilities for one uint8 frame; MasterException when no usable answer came. */
    MasterReply predict(Frame frame) throws MasterException;
}
