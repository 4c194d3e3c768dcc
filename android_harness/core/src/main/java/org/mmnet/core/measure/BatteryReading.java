package org.mmnet.core.measure;

/**
 * One fuel-gauge reading, raw as the phone reports it (units and signs as the vendor chose; see
 * {@link FuelGaugeEnergy} for the normalisation). A null field is a property the gauge does not
 * report (BatteryManager answers Long.MIN_VALUE or 0 for those).
 */
public final class BatteryReading {
    /** BATTERY_PROPERTY_CURRENT_NOW: µA by the Android spec, positive into the battery; vendors differ. */
    public final Long currentNow;
    /** EXTRA_VOLTAGE of ACTION_BATTERY_CHANGED: mV by the spec; some vendors report V or µV. */
    public final Long voltage;
    /** BATTERY_PROPERTY_CHARGE_COUNTER: remaining charge in µAh. */
    public final Long chargeCounterMicroAh;
    /** BATTERY_PROPERTY_ENERGY_COUNTER: remaining energy in nWh. */
    public final Long energyCounterNanoWh;

    public BatteryReading(Long currentNow, Long voltage, Long chargeCounterMicroAh, Long energyCounterNanoWh) {
        this.currentNow = currentNow;
        this.voltage = voltage;
        this.chargeCounterMicroAh = chargeCounterMicroAh;
        this.energyCounterNanoWh = energyCounterNanoWh;
    }
}
