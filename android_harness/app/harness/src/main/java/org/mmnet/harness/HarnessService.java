package org.mmnet.harness;

import android.app.Notification;
import android.app.NotificationChannel;
import android.app.NotificationManager;
import android.app.Service;
import android.content.BroadcastReceiver;
import android.content.Context;
import android.content.Intent;
import android.content.IntentFilter;
import android.content.pm.ServiceInfo;
import android.os.Build;
import android.os.IBinder;
import android.os.PowerManager;
import android.util.Log;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.mmnet.core.measure.Cancellation;

/**
 * Runs requests one at a time on a worker thread, as a foreground service so a run survives the
 * screen turning off, holding a partial wake lock while it works. Listens for the CANCEL broadcast
 * ({@code am broadcast -a org.mmnet.harness.CANCEL --es run_id ID}) while it is alive.
 */
public final class HarnessService extends Service {
    static final String ACTION_CANCEL = "org.mmnet.harness.CANCEL";
    private static final String CHANNEL = "runs";
    /** Shown in the system's notification settings; the app has no other UI, and no translations. */
    static final String CHANNEL_NAME = "Harness runs";
    static final String NOTIFICATION_TITLE = "mmnet harness";
    private static final int NOTIFICATION_ID = 1;
    /** Longest a run may hold the wake lock: a guard against a leak, far above any real run. */
    private static final long WAKE_LOCK_MS = TimeUnit.HOURS.toMillis(12);

    /** How a start command becomes a run: LiteRT and the system clock here, scripted ones in tests. */
    interface RunFactory {
        HarnessRun create(Context context, String runId, String requestPath, Cancellation cancellation);
    }

    RunFactory newRun = HarnessRun::new;
    private final Map<String, Cancellation> runs = new ConcurrentHashMap<>();
    private ExecutorService worker;

    private final BroadcastReceiver cancelReceiver = new BroadcastReceiver() {
        @Override
        public void onReceive(Context context, Intent intent) {
            String runId = intent.getStringExtra(HarnessActivity.EXTRA_RUN_ID);
            Cancellation cancellation = runId == null ? null : runs.get(runId);
            if (cancellation == null) {
                Log.w(HarnessActivity.TAG, "CANCEL for run " + runId + ": no such run is queued or running");
                return;
            }
            cancellation.cancel("cancelled by the host (CANCEL broadcast)");
        }
    };

    static Intent startIntent(Context context, String runId, String request) {
        return new Intent(context, HarnessService.class)
                .putExtra(HarnessActivity.EXTRA_RUN_ID, runId)
                .putExtra(HarnessActivity.EXTRA_REQUEST, request);
    }

    @Override
    public void onCreate() {
        super.onCreate();
        worker = Executors.newSingleThreadExecutor(r -> new Thread(r, "mmnet-run"));
        NotificationChannel channel = new NotificationChannel(CHANNEL, CHANNEL_NAME,
                NotificationManager.IMPORTANCE_LOW);
        getSystemService(NotificationManager.class).createNotificationChannel(channel);
        IntentFilter filter = new IntentFilter(ACTION_CANCEL);
        if (Build.VERSION.SDK_INT >= 33) {
            // Exported: the broadcast comes from the adb shell, another uid.
            registerReceiver(cancelReceiver, filter, Context.RECEIVER_EXPORTED);
        } else {
            registerReceiver(cancelReceiver, filter);
        }
    }

    @Override
    public int onStartCommand(Intent intent, int flags, int startId) {
        String runId = intent.getStringExtra(HarnessActivity.EXTRA_RUN_ID);
        goForeground(runId);
        Cancellation cancellation = new Cancellation();
        HarnessRun run;
        try {
            run = newRun.create(this, runId, intent.getStringExtra(HarnessActivity.EXTRA_REQUEST), cancellation);
        } catch (IllegalStateException e) {
            Log.e(HarnessActivity.TAG, "run " + runId + " not started", e);
            stopSelf(startId);
            return START_NOT_STICKY;
        }
        runs.put(runId, cancellation);
        run.queued();
        worker.execute(() -> {
            PowerManager.WakeLock lock = getSystemService(PowerManager.class)
                    .newWakeLock(PowerManager.PARTIAL_WAKE_LOCK, "mmnet:run");
            lock.setReferenceCounted(false);  // release() after the timeout fired must not throw
            lock.acquire(WAKE_LOCK_MS);
            try {
                run.execute();
            } finally {
                lock.release();
                runs.remove(runId);
                stopSelf(startId);  // stops only when no newer start arrived meanwhile
            }
        });
        // Not restarted after being killed: a half-measured run restarted silently would mislead.
        return START_NOT_STICKY;
    }

    private void goForeground(String runId) {
        Notification notification = new Notification.Builder(this, CHANNEL)
                .setSmallIcon(android.R.drawable.ic_media_play)
                .setContentTitle(NOTIFICATION_TITLE)
                .setContentText("run " + runId)
                .setOngoing(true)
                .build();
        if (Build.VERSION.SDK_INT >= 34) {
            startForeground(NOTIFICATION_ID, notification, ServiceInfo.FOREGROUND_SERVICE_TYPE_SPECIAL_USE);
        } else {
            startForeground(NOTIFICATION_ID, notification);
        }
    }

    @Override
    public void onDestroy() {
        unregisterReceiver(cancelReceiver);
        for (Cancellation c : runs.values()) {
            c.cancel("the harness service was stopped");
        }
        worker.shutdownNow();
        super.onDestroy();
    }

    @Override
    public IBinder onBind(Intent intent) {
        return null;
    }
}
