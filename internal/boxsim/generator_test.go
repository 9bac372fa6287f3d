package boxsim

import (
	"context"
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/require"
)

var (
	hex40     = regexp.MustCompile(`^[0-9a-f]{40}$`)
	uuidV4    = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	boxTimeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$`)
)

func decodeEvent(t *testing.T, e Event) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(e.JSON, &m))
	return m
}

func TestServer_EmitUserShapes(t *testing.T) {
	h := newHarness(t, Options{Seed: 42})
	events := h.sim.EmitUser(600)
	require.Len(t, events, 600)
	seen := map[string]int{}
	for _, e := range events {
		m := decodeEvent(t, e)
		require.Equal(t, "event", m["type"])
		require.Regexp(t, hex40, m["event_id"])
		require.Equal(t, e.ID, m["event_id"])
		require.Equal(t, e.Type, m["event_type"])
		require.Regexp(t, boxTimeRE, m["created_at"])
		require.Regexp(t, boxTimeRE, m["recorded_at"])
		require.Contains(t, m, "source")
		if m["session_id"] == nil {
			seen["session null or absent"]++
		}
		if m["created_by"] == nil {
			seen["created_by null"]++
		} else if cb, ok := m["created_by"].(map[string]any); ok {
			require.Equal(t, "user", cb["type"])
			if _, numeric := cb["id"].(float64); numeric {
				seen["numeric id"]++
			}
		}
		if src, ok := m["source"].(map[string]any); ok {
			seen["source "+stringOr(src["type"], "empty")]++
		}
		if _, ok := m["additional_details"].(string); ok {
			seen["details string"]++
		}
		if !isChangeEventType(e.Type) && e.Type == "ITEM_FUTURE_ACTION" {
			seen["unknown type"]++
		}
	}
	for _, want := range []string{
		"session null or absent", "created_by null", "numeric id", "details string", "unknown type",
		"source file", "source folder", "source comment", "source task", "source group", "source empty",
	} {
		require.Positive(t, seen[want], want)
	}
}

func TestServer_EmitEnterpriseShapes(t *testing.T) {
	h := newHarness(t, Options{Seed: 42})
	events := h.sim.EmitEnterprise(2000)
	seen := map[string]int{}
	for _, e := range events {
		m := decodeEvent(t, e)
		require.Regexp(t, uuidV4, m["event_id"])
		require.Regexp(t, boxTimeRE, m["created_at"])
		require.NotContains(t, m, "recorded_at")
		require.IsType(t, "", m["ip_address"])
		src, _ := m["source"].(map[string]any)
		switch {
		case m["source"] == nil:
			seen["source null"]++
			if e.Type == "SHIELD_ALERT" {
				require.Contains(t, m["additional_details"], "shield_alert")
			}
		case src["item_type"] != nil:
			seen["item "+src["item_type"].(string)]++
			require.Contains(t, src, "parent")
			require.Contains(t, src, "owned_by")
		case src["folder_id"] != nil || src["file_id"] != nil:
			seen["collaboration"]++
			if details, ok := m["additional_details"].(map[string]any); ok {
				require.Equal(t, "box://event/additional_details/collaboration", details["type"])
			}
		case src["group_id"] != nil:
			seen["group"]++
		case src["type"] == "user":
			seen["user"]++
		case src["type"] == "application":
			seen["application"]++
		}
		if cb, ok := m["created_by"].(map[string]any); ok && cb["id"] == "2" {
			seen["anonymous"]++
		}
		details, _ := m["additional_details"].(map[string]any)
		switch e.Type {
		case "SHIELD_ALERT", "DOWNLOAD":
			if details == nil { // additional_details null or a string (odd shapes)
				continue
			}
		}
		switch e.Type {
		case "SHIELD_ALERT":
			alert := details["shield_alert"].(map[string]any)
			for _, k := range []string{"alert_id", "risk_score", "rule_id"} {
				require.IsType(t, float64(0), alert[k], k) // numbers, as shield-alert-events.md shows
			}
			require.Contains(t, []string{"low", "medium", "high"}, alert["priority"])
			require.Contains(t, ShieldCategories(), alert["rule_category"])
			require.Contains(t, alert, "alert_summary")
			user := alert["user"].(map[string]any)
			require.IsType(t, float64(0), user["id"])
			require.Contains(t, user["email"], "@")
			seen["shield "+alert["rule_category"].(string)]++
		case "COLLABORATION_INVITE", "COLLABORATION_ACCEPT", "COLLABORATION_ROLE_CHANGE":
			require.Equal(t, "user", m["accessible_by"].(map[string]any)["type"])
		case "CHANGE_ADMIN_ROLE":
			if len(src) > 0 { // not the odd empty source
				require.Contains(t, adminRoles, src["role"])
				seen["admin role"]++
			}
		case "DOWNLOAD":
			require.Contains(t, details, "service_name")
			require.Contains(t, details, "size")
			if _, ok := details["shared_link_id"]; ok {
				seen["download via shared link"]++
			}
		}
		if e.Type == "FUTURE_ENTERPRISE_ACTION" {
			seen["unknown type"]++
		}
	}
	for _, want := range []string{
		"source null", "item file", "item folder", "item web_link", "collaboration", "group", "user",
		"application", "anonymous", "unknown type", "admin role", "download via shared link",
		"shield Suspicious Locations", "shield Suspicious Sessions", "shield Anomalous Download",
		"shield Malicious Content",
	} {
		require.Positive(t, seen[want], want)
	}
}

func TestServer_EmitDeterministic(t *testing.T) {
	run := func(seed uint64) []string {
		mock := clock.NewMock()
		s := New(Options{Seed: seed, Clock: mock, StreamingDuplicateRate: 0.1, StreamingDisorder: true})
		defer s.Close()
		s.Emit(50)
		mock.Add(time.Minute)
		s.Emit(50)
		var out []string
		for _, stream := range []Stream{StreamAll, StreamAdminLogs, StreamAdminLogsStreaming} {
			for _, e := range s.Events(stream) {
				out = append(out, e.Position+" "+string(e.JSON))
			}
		}
		return out
	}
	first := run(9)
	require.Equal(t, first, run(9))
	require.NotEqual(t, run(9), run(10))
}

func TestServer_ProducedIDsUnique(t *testing.T) {
	h := newHarness(t, Options{Seed: 8, StreamingDuplicateRate: 0.5})
	h.sim.Emit(2000)
	for _, stream := range []Stream{StreamAll, StreamChanges, StreamSync, StreamAdminLogs, StreamAdminLogsStreaming} {
		ids := h.sim.ProducedIDs(stream)
		require.NotEmpty(t, ids, stream)
		requireUnique(t, ids)
	}
	require.Len(t, h.sim.ProducedIDs(StreamAll), 2000)
	require.Len(t, h.sim.ProducedIDs(StreamAdminLogsStreaming), 2000)
	require.Equal(t, h.sim.ProducedIDs(StreamAdminLogs), h.sim.ProducedIDs(StreamAdminLogsStreaming))

	small := newHarness(t, Options{MaxProducedIDs: 10})
	small.sim.EmitUser(25)
	require.Equal(t, idsOf(small.sim.Events(StreamAll))[15:], small.sim.ProducedIDs(StreamAll))
}

func TestServer_StartGenerator(t *testing.T) {
	h := newHarness(t, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	h.sim.StartGenerator(ctx, 5*time.Second)
	require.Empty(t, h.sim.Events(StreamAll))
	h.clock.Add(5 * time.Second)
	require.Eventually(t, func() bool {
		return len(h.sim.Events(StreamAll)) > 0 && len(h.sim.Events(StreamAdminLogs)) > 0
	}, waitTimeout, time.Millisecond)
	cancel()
	h.sim.Close() // waits for the generator to stop
}

func stringOr(v any, fallback string) string {
	if s, ok := v.(string); ok {
		return s
	}
	return fallback
}
