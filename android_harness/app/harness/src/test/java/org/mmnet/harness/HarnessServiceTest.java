package org.mmnet.harness;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.robolectric.Shadows.shadowOf;

import android.app.Notification;
import android.content.Intent;
import android.os.Looper;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.Before;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;
import org.junit.runner.RunWith;
import org.mmnet.core.Bundle;
import org.mmnet.core.measure.Clock;
import org.robolectric.Robolectric;
import org.robolectric.RobolectricTestRunner;
import org.robolectric.android.controller.ServiceController;
import org.robolectric.annotation.Config;
import org.robolectric.shadows.ShadowLog;
import org.robolectric.shadows.ShadowPowerManager;

/** The activity's and the service's intent handling: run ids, missing extras, the CANCEL broadcast, the wake lock. */
@RunWith(RobolectricTestRunner.class)
@Config(shadows = ScriptedPowerMonitors.class)
public class HarnessServiceTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    ScriptedPhone phone;

    @Before
    public void setUp() {
        ScriptedPowerMonitors.reset();
        phone = new ScriptedPhone(ProfileRunRobolectricTest.IDLE_UA);
    }

    /** status.json once its state is {@code state}, waiting for the service's worker thread (10 s at most). */
    JsonObject awaitState(String runId, String state) throws IOException, InterruptedException {
        Path file = phone.runDir(runId).resolve("status.json");
        JsonObject status = null;
        for (int i = 0; i < 1000; i++) {
            shadowOf(Looper.getMainLooper()).idle();
            if (Files.exists(file)) {
                status = ScriptedPhone.json(file);
                if (state.equals(status.get("state").getAsString())) {
                    return status;
                }
            }
            Thread.sleep(10);
        }
        throw new AssertionError("run " + runId + " never reached " + state + "; status.json: " + status);
    }

    ServiceController<HarnessService> service(String runId, String request) {
        Intent intent = new Intent(phone.context, HarnessService.class).putExtra(HarnessActivity.EXTRA_RUN_ID, runId);
        if (request != null) {
            intent.putExtra(HarnessActivity.EXTRA_REQUEST, request);
        }
        return Robolectric.buildService(HarnessService.class, intent);
    }

    @Test
    public void aStartWithoutARequestFailsItsRunWithTheReasonAndReleasesTheWakeLock() throws Exception {
        ServiceController<HarnessService> controller = service("no-request", null).create().startCommand(0, 1);
        JsonObject status = awaitState("no-request", "failed");
        assertTrue(status.toString(), status.get("message").getAsString().startsWith("the intent has no request extra"));
        Notification notification = shadowOf(controller.get()).getLastForegroundNotification();
        assertNotNull("the run goes foreground", notification);
        assertEquals(HarnessService.NOTIFICATION_TITLE,
                notification.extras.getCharSequence(Notification.EXTRA_TITLE).toString());
        awaitWakeLockReleased();  // released after the final status is written
        controller.destroy();
    }

    static void awaitWakeLockReleased() throws InterruptedException {
        for (int i = 0; i < 1000 && ShadowPowerManager.getLatestWakeLock().isHeld(); i++) {
            Thread.sleep(10);
        }
        assertFalse("the run's wake lock is still held", ShadowPowerManager.getLatestWakeLock().isHeld());
    }

    @Test
    public void theCancelBroadcastCancelsTheRunningRun() throws Exception {
        Path bundleDir = ScriptedPhone.bundle(tmp.newFolder("bundle").toPath());
        Bundle bundle = Bundle.load(bundleDir.toFile());
        Path request = ScriptedPhone.request(tmp.getRoot().toPath(), "long", bundleDir,
                ProfileRunRobolectricTest.models(ProfileRunRobolectricTest.MODEL), "runs", "1000000",
                "energy", "{\"sample_hz\": 10, \"idle_baseline_s\": 0}");
        ServiceController<HarnessService> controller = service("long", request.toString());
        // The real clock on the service's worker thread; each inference takes 2 ms.
        controller.get().newRun = (context, runId, path, cancellation) -> new HarnessRun(context, runId, path,
                cancellation, phone.new Engine(Clock.SYSTEM, bundle, 2, -100_000, -300_000), Clock.SYSTEM,
                new java.io.File(context.getCacheDir(), HarnessRun.UNPACKED));
        controller.create().startCommand(0, 1);
        awaitState("long", "running");
        assertTrue(ShadowPowerManager.getLatestWakeLock().isHeld());

        phone.context.sendBroadcast(new Intent(HarnessService.ACTION_CANCEL).putExtra(HarnessActivity.EXTRA_RUN_ID, "other"));
        shadowOf(Looper.getMainLooper()).idle();
        assertTrue(ShadowLog.getLogsForTag(HarnessActivity.TAG).stream()
                .anyMatch(l -> l.msg.contains("CANCEL for run other: no such run")));

        phone.context.sendBroadcast(new Intent(HarnessService.ACTION_CANCEL).putExtra(HarnessActivity.EXTRA_RUN_ID, "long"));
        JsonObject status = awaitState("long", "cancelled");
        assertEquals("cancelled by the host (CANCEL broadcast)", status.get("message").getAsString());
        assertFalse(Files.exists(phone.runDir("long").resolve("result.json")));
        awaitWakeLockReleased();
        controller.destroy();
    }

    @Test
    public void theActivityHandsAValidRunToTheServiceAndFinishes() {
        Intent start = new Intent().putExtra(HarnessActivity.EXTRA_RUN_ID, "20261124T071500Z-ab12")
                .putExtra(HarnessActivity.EXTRA_REQUEST, "/data/local/tmp/mmnet/runs/x/request.json");
        HarnessActivity activity = Robolectric.buildActivity(HarnessActivity.class, start).create().get();
        assertTrue(activity.isFinishing());
        Intent started = shadowOf(phone.context).getNextStartedService();
        assertNotNull(started);
        assertEquals(HarnessService.class.getName(), started.getComponent().getClassName());
        assertEquals("20261124T071500Z-ab12", started.getStringExtra(HarnessActivity.EXTRA_RUN_ID));
        assertEquals("/data/local/tmp/mmnet/runs/x/request.json", started.getStringExtra(HarnessActivity.EXTRA_REQUEST));
    }

    @Test
    public void theActivityStartsNothingForAnInvalidRunId() {
        Intent start = new Intent().putExtra(HarnessActivity.EXTRA_RUN_ID, "../etc");
        HarnessActivity activity = Robolectric.buildActivity(HarnessActivity.class, start).create().get();
        assertTrue(activity.isFinishing());
        assertNull(shadowOf(phone.context).getNextStartedService());
        assertTrue(ShadowLog.getLogsForTag(HarnessActivity.TAG).stream()
                .anyMatch(l -> l.msg.contains("intent extra run_id is ../etc")));
    }
}
