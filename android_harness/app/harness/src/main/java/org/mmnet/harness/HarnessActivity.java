package org.mmnet.harness;

import android.app.Activity;
import android.content.Intent;
import android.os.Bundle;
import android.util.Log;
import org.mmnet.core.measure.RunRequest;

/**
 * The entry point of PROTOCOL.md: {@code am start -n org.mmnet.harness/.HarnessActivity --es run_id
 * ID --es request PATH}. Hands the run to {@link HarnessService} and finishes at once; an activity
 * in the foreground is what lets the app start a foreground service on Android 12+.
 */
public final class HarnessActivity extends Activity {
    static final String TAG = "mmnet-harness";
    static final String EXTRA_RUN_ID = "run_id";
    static final String EXTRA_REQUEST = "request";

    @Override
    protected void onCreate(Bundle savedInstanceState) {
        super.onCreate(savedInstanceState);
        Intent intent = getIntent();
        String runId = intent.getStringExtra(EXTRA_RUN_ID);
        String request = intent.getStringExtra(EXTRA_REQUEST);
        if (!RunRequest.isValidRunId(runId)) {
            // Without a usable run id there is no run directory to report into: logcat is all there is.
            Log.e(TAG, "intent extra run_id is " + runId + "; expected --es run_id <id> of letters, digits, '.', '_'"
                    + " or '-' (PROTOCOL.md); nothing started");
        } else {
            startForegroundService(HarnessService.startIntent(this, runId, request));
        }
        finish();
    }
}
