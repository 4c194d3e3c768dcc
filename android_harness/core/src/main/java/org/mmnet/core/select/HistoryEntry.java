package org.mmnet.core.select;

import org.mmnet.core.ConfigException;

/** What happened to the previous frame, for the speculation-history rules (§5.2.2). */
public final class HistoryEntry {
    private final double timestampS;
    private final Integer minionAnswer;
    private final Integer masterAnswer;
    private final boolean recovered;

    /**
     * {@code minionAnswer} is null when the minions did not run, {@code masterAnswer} when the
     * master did not; a recovered frame has both (ConfigException otherwise, as in Python).
     */
    public HistoryEntry(double timestampS, Integer minionAnswer, Integer masterAnswer, boolean recovered) {
        Selector.checkTime("HistoryEntry.timestamp_s", timestampS);
        if (recovered && (minionAnswer == null || masterAnswer == null)) {
            throw new ConfigException("HistoryEntry: recovered is True but minion_answer is " + py(minionAnswer)
                    + " and master_answer is " + py(masterAnswer) + "; a recovered frame has both answers");
        }
        this.timestampS = timestampS;
        this.minionAnswer = minionAnswer;
        this.masterAnswer = masterAnswer;
        this.recovered = recovered;
    }

    private static String py(Integer value) {
        return value == null ? "None" : value.toString();
    }

    public double timestampS() {
        return timestampS;
    }

    public Integer minionAnswer() {
        return minionAnswer;
    }

    public Integer masterAnswer() {
        return masterAnswer;
    }

    public boolean recovered() {
        return recovered;
    }
}
