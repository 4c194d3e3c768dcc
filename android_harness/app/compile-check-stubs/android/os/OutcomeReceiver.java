// COMPILE-CHECK STUB, not the real Android class. Hand-written from the documented signatures
// (developer.android.com/reference) of exactly the members the harness app uses, so javac can type-check the app where
// there is no android.jar (see android_harness/BUILD.md). Never packaged; every body throws.
package android.os;

public interface OutcomeReceiver<R, E extends Throwable> {
    void onResult(R result);

    default void onError(E error) {
    }
}
