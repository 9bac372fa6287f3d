package boxsim

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// result is what a raw client observed for one request.
type result struct {
	status  int
	header  http.Header
	body    []byte
	doErr   error // no response at all
	readErr error // response, but the body broke
}

func (h *harness) raw(ctx context.Context, method, path string, header http.Header, body string) result {
	h.t.Helper()
	return h.rawURL(ctx, method, h.sim.URL()+path, header, body)
}

// rawURL is raw for an absolute URL (another listener than the API's).
func (h *harness) rawURL(ctx context.Context, method, target string, header http.Header, body string) result {
	h.t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, target, strings.NewReader(body))
	require.NoError(h.t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return result{doErr: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: b, readErr: err}
}

func TestServer_Faults(t *testing.T) {
	tests := []struct {
		name  string
		fault Fault
		check func(t *testing.T, h *harness, r result)
	}{
		{"rate limit", Fault{Kind: FaultRateLimit}, func(t *testing.T, _ *harness, r result) {
			require.Equal(t, http.StatusTooManyRequests, r.status)
			require.Equal(t, "1", r.header.Get("Retry-After"))
			code, msg := boxErrorCode(t, r.body)
			require.Equal(t, "rate_limit_exceeded", code)
			require.Equal(t, "Request rate limit exceeded, please try again later", msg)
		}},
		{"rate limit seconds", Fault{Kind: FaultRateLimit, RetryAfter: 7 * time.Second}, func(t *testing.T, _ *harness, r result) {
			require.Equal(t, "7", r.header.Get("Retry-After"))
		}},
		{"rate limit date", Fault{Kind: FaultRateLimit, RetryAfter: 30 * time.Second, RetryAfterDate: true},
			func(t *testing.T, h *harness, r result) {
				require.Equal(t, h.clock.Now().Add(30*time.Second).UTC().Format(http.TimeFormat), r.header.Get("Retry-After"))
			}},
		{"500", Fault{Kind: FaultServerError}, func(t *testing.T, _ *harness, r result) {
			require.Equal(t, http.StatusInternalServerError, r.status)
			code, _ := boxErrorCode(t, r.body)
			require.Equal(t, "internal_server_error", code)
		}},
		{"502", Fault{Kind: FaultServerError, Status: http.StatusBadGateway}, func(t *testing.T, _ *harness, r result) {
			require.Equal(t, http.StatusBadGateway, r.status)
			code, _ := boxErrorCode(t, r.body)
			require.Equal(t, "bad_gateway", code)
		}},
		{"503", Fault{Kind: FaultServerError, Status: http.StatusServiceUnavailable}, func(t *testing.T, _ *harness, r result) {
			require.Equal(t, http.StatusServiceUnavailable, r.status)
			code, _ := boxErrorCode(t, r.body)
			require.Equal(t, "unavailable", code)
		}},
		{"proxy html", Fault{Kind: FaultProxyHTML}, func(t *testing.T, _ *harness, r result) {
			require.Equal(t, http.StatusBadGateway, r.status)
			require.Equal(t, "text/html", r.header.Get("Content-Type"))
			require.Contains(t, string(r.body), "<h1>502 Bad Gateway</h1>")
		}},
		{"reset", Fault{Kind: FaultReset}, func(t *testing.T, _ *harness, r result) {
			require.Error(t, r.doErr)
		}},
		{"truncated", Fault{Kind: FaultTruncated}, func(t *testing.T, _ *harness, r result) {
			require.NoError(t, r.doErr)
			require.Equal(t, http.StatusOK, r.status)
			require.ErrorIs(t, r.readErr, io.ErrUnexpectedEOF)
			require.NotEmpty(t, r.body)
			require.False(t, json.Valid(r.body))
		}},
		{"oversized", Fault{Kind: FaultOversized, Size: 1 << 20}, func(t *testing.T, _ *harness, r result) {
			require.NoError(t, r.readErr)
			require.Len(t, r.body, 1<<20)
			require.True(t, json.Valid(r.body))
		}},
		{"unauthorized", Fault{Kind: FaultUnauthorized}, func(t *testing.T, _ *harness, r result) {
			require.Equal(t, http.StatusUnauthorized, r.status)
			require.Contains(t, r.header.Get("WWW-Authenticate"), `error="invalid_token"`)
			require.Empty(t, r.body)
		}},
		{"malformed json", Fault{Kind: FaultMalformedJSON}, func(t *testing.T, _ *harness, r result) {
			require.Equal(t, http.StatusOK, r.status)
			require.False(t, json.Valid(r.body))
			require.True(t, strings.HasPrefix(string(r.body), "{"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			token := h.sim.IssueToken(SubjectUser)
			h.sim.InjectFault(EndpointEvents, tt.fault)
			tt.check(t, h, h.raw(t.Context(), http.MethodGet, "/2.0/events", bearer(token), ""))

			last, ok := h.sim.LastRequest(EndpointEvents)
			require.True(t, ok)
			require.Equal(t, tt.fault.Kind, last.Fault)
			require.Zero(t, h.sim.PendingFaults(EndpointEvents))

			r := h.raw(t.Context(), http.MethodGet, "/2.0/events", bearer(token), "")
			require.Equal(t, http.StatusOK, r.status, "the fault answered one request only")
		})
	}
}

func TestServer_FaultsPerEndpoint(t *testing.T) {
	tests := []struct {
		name     string
		endpoint Endpoint
		fault    Fault
		method   string
		path     string
		body     string
		check    func(t *testing.T, r result)
	}{
		{"token without access_token", EndpointToken, Fault{Kind: FaultNoAccessToken}, http.MethodPost, "/oauth2/token", "",
			func(t *testing.T, r result) {
				require.Equal(t, http.StatusOK, r.status)
				var body map[string]any
				require.NoError(t, json.Unmarshal(r.body, &body))
				require.NotContains(t, body, "access_token")
				require.Equal(t, "bearer", body["token_type"])
			}},
		{"token malformed", EndpointToken, Fault{Kind: FaultMalformedJSON}, http.MethodPost, "/oauth2/token", "",
			func(t *testing.T, r result) {
				require.Equal(t, http.StatusOK, r.status)
				require.False(t, json.Valid(r.body))
			}},
		{"token 503", EndpointToken, Fault{Kind: FaultServerError, Status: 503}, http.MethodPost, "/oauth2/token", "",
			func(t *testing.T, r result) { require.Equal(t, http.StatusServiceUnavailable, r.status) }},
		{"options truncated", EndpointOptions, Fault{Kind: FaultTruncated}, http.MethodOptions, "/2.0/events", "",
			func(t *testing.T, r result) { require.ErrorIs(t, r.readErr, io.ErrUnexpectedEOF) }},
		{"options 429", EndpointOptions, Fault{Kind: FaultRateLimit}, http.MethodOptions, "/2.0/events", "",
			func(t *testing.T, r result) { require.Equal(t, http.StatusTooManyRequests, r.status) }},
		{"longpoll reset", EndpointLongPoll, Fault{Kind: FaultReset}, http.MethodGet, "/subscribe?channel=x", "",
			func(t *testing.T, r result) { require.Error(t, r.doErr) }},
		{"longpoll html", EndpointLongPoll, Fault{Kind: FaultProxyHTML}, http.MethodGet, "/subscribe?channel=x", "",
			func(t *testing.T, r result) { require.Equal(t, http.StatusBadGateway, r.status) }},
		{"events no access token", EndpointEvents, Fault{Kind: FaultNoAccessToken}, http.MethodGet, "/2.0/events", "",
			func(t *testing.T, r result) { require.JSONEq(t, `{}`, string(r.body)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			h.sim.InjectFault(tt.endpoint, tt.fault)
			tt.check(t, h.raw(t.Context(), tt.method, tt.path, nil, tt.body))
			require.Equal(t, 1, h.sim.Requests(tt.endpoint))
		})
	}
}

func TestServer_FaultHang(t *testing.T) {
	h := newHarness(t, Options{})
	h.sim.InjectFault(EndpointEvents, Fault{Kind: FaultHang})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan result, 1)
	go func() {
		done <- h.raw(ctx, http.MethodGet, "/2.0/events", nil, "")
	}()
	require.NoError(t, h.sim.WaitRequests(EndpointEvents, 1, waitTimeout))
	select {
	case <-done:
		t.Fatal("a hung request must not be answered")
	default:
	}
	cancel()
	select {
	case r := <-done:
		require.ErrorIs(t, r.doErr, context.Canceled)
	case <-time.After(waitTimeout):
		t.Fatal("hung request not released by the client going away")
	}

	// Close releases a hung request too.
	h.sim.InjectFault(EndpointEvents, Fault{Kind: FaultHang})
	go func() {
		done <- h.raw(t.Context(), http.MethodGet, "/2.0/events", nil, "")
	}()
	require.NoError(t, h.sim.WaitRequests(EndpointEvents, 2, waitTimeout))
	h.sim.Close()
	select {
	case r := <-done:
		require.Error(t, r.doErr)
	case <-time.After(waitTimeout):
		t.Fatal("hung request not released by Close")
	}
}

func TestServer_FaultQueue(t *testing.T) {
	h := newHarness(t, Options{})
	token := h.sim.IssueToken(SubjectUser)
	h.sim.EmitUser(3)
	h.sim.InjectFault(EndpointEvents, Fault{Kind: FaultRateLimit, Times: 2})
	h.sim.InjectFault(EndpointEvents, Fault{Kind: FaultServerError, Status: http.StatusBadGateway})
	require.Equal(t, 3, h.sim.PendingFaults(EndpointEvents))

	q := url.Values{"stream_position": {h.sim.Events(StreamAll)[0].Position}, "limit": {"500"}}
	statuses := make([]int, 0, 4)
	for range 4 {
		status, _ := h.getEvents(token, q)
		statuses = append(statuses, status)
	}
	require.Equal(t, []int{429, 429, 502, 200}, statuses)
	for _, req := range h.sim.RequestLog(EndpointEvents) {
		require.Equal(t, q.Get("stream_position"), req.Query.Get("stream_position"))
		require.Equal(t, "500", req.Query.Get("limit"))
	}
	require.Equal(t, 4, h.sim.Requests(EndpointEvents))
}

func TestServer_RandomFaults(t *testing.T) {
	h := newHarness(t, Options{Seed: 1})
	token := h.sim.IssueToken(SubjectUser)
	h.sim.SetRandomFaults(EndpointEvents, 1, Fault{Kind: FaultServerError, Status: http.StatusServiceUnavailable})
	for range 5 {
		status, _ := h.getEvents(token, nil)
		require.Equal(t, http.StatusServiceUnavailable, status)
	}

	h.sim.SetRandomFaults(EndpointEvents, 0.5)
	failed := 0
	for range 40 {
		r := h.raw(t.Context(), http.MethodGet, "/2.0/events", bearer(token), "")
		if r.doErr != nil || r.readErr != nil || r.status != http.StatusOK {
			failed++
		}
	}
	require.Greater(t, failed, 5)
	require.Less(t, failed, 35)

	h.sim.SetRandomFaults(EndpointEvents, 0)
	status, _ := h.getEvents(token, nil)
	require.Equal(t, http.StatusOK, status)
}

func TestServer_UnknownFaultKind(t *testing.T) {
	h := newHarness(t, Options{})
	h.sim.InjectFault(EndpointEvents, Fault{Kind: "bogus"})
	r := h.raw(t.Context(), http.MethodGet, "/2.0/events", nil, "")
	require.Equal(t, http.StatusInternalServerError, r.status)
	require.NotErrorIs(t, r.readErr, io.ErrUnexpectedEOF)
}

func TestServer_FaultInvalidPosition(t *testing.T) {
	h := newHarness(t, Options{})
	token := h.sim.IssueToken(SubjectUser)
	h.sim.EmitUser(2)
	h.sim.InjectFault(EndpointEvents, Fault{Kind: FaultInvalidPosition})
	r := h.raw(t.Context(), http.MethodGet, "/2.0/events?stream_position="+h.sim.HeadPosition(StreamAll), bearer(token), "")
	requireInvalidPosition(t, r.status, r.header, r.body)
	last, ok := h.sim.LastRequest(EndpointEvents)
	require.True(t, ok)
	require.Equal(t, FaultInvalidPosition, last.Fault)

	status, _ := h.getEvents(token, url.Values{"stream_position": {h.sim.HeadPosition(StreamAll)}})
	require.Equal(t, http.StatusOK, status, "the position itself is fine")
}

func TestServer_FaultRedirect(t *testing.T) {
	tests := []struct {
		name       string
		endpoint   Endpoint
		method     string
		path       string
		fault      Fault
		wantStatus int
	}{
		{"token default 307", EndpointToken, http.MethodPost, "/oauth2/token",
			Fault{Kind: FaultRedirect, Location: "http://127.0.0.2:9/oauth2/token"}, http.StatusTemporaryRedirect},
		{"events 308", EndpointEvents, http.MethodGet, "/2.0/events",
			Fault{Kind: FaultRedirect, Status: http.StatusPermanentRedirect, Location: "https://elsewhere.example/2.0/events"},
			http.StatusPermanentRedirect},
		{"options 302", EndpointOptions, http.MethodOptions, "/2.0/events",
			Fault{Kind: FaultRedirect, Status: http.StatusFound, Location: "http://elsewhere.example/"}, http.StatusFound},
		{"longpoll 301", EndpointLongPoll, http.MethodGet, "/subscribe?channel=x",
			Fault{Kind: FaultRedirect, Status: http.StatusMovedPermanently, Location: "http://elsewhere.example/subscribe"},
			http.StatusMovedPermanently},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			// Report redirects instead of following them.
			h.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			h.sim.InjectFault(tt.endpoint, tt.fault)
			header := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "As-User": {"19283746"}}
			r := h.raw(t.Context(), tt.method, tt.path, header, ccgForm("enterprise", DefaultEnterpriseID).Encode())
			require.NoError(t, r.doErr)
			require.Equal(t, tt.wantStatus, r.status)
			require.Equal(t, tt.fault.Location, r.header.Get("Location"))
			require.Empty(t, r.body)

			last, ok := h.sim.LastRequest(tt.endpoint)
			require.True(t, ok)
			require.Equal(t, FaultRedirect, last.Fault)
			require.Equal(t, "19283746", last.Header.Get("As-User"))
			if tt.endpoint == EndpointToken {
				require.Equal(t, DefaultClientSecret, last.Form.Get("client_secret"), "what the client posted is recorded")
			}
		})
	}

	t.Run("invalid", func(t *testing.T) {
		h := newHarness(t, Options{})
		for _, f := range []Fault{
			{Kind: FaultRedirect},
			{Kind: FaultRedirect, Location: "/relative"},
			{Kind: FaultRedirect, Location: "http://ok.example/", Status: http.StatusOK},
		} {
			h.sim.InjectFault(EndpointEvents, f)
			r := h.raw(t.Context(), http.MethodGet, "/2.0/events", nil, "")
			require.Equal(t, http.StatusInternalServerError, r.status)
			require.Contains(t, string(r.body), "FaultRedirect")
		}
	})
}

func TestServer_FaultDelay(t *testing.T) {
	h := newHarness(t, Options{})
	send := func(ctx context.Context) <-chan result {
		done := make(chan result, 1)
		go func() {
			done <- h.raw(ctx, http.MethodPost, "/oauth2/token",
				http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
				ccgForm("enterprise", DefaultEnterpriseID).Encode())
		}()
		return done
	}

	// Held in flight: recorded on arrival, answered only when the client gives up.
	h.sim.InjectFault(EndpointToken, Fault{Kind: FaultDelay, Delay: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	held := send(ctx)
	require.NoError(t, h.sim.WaitRequests(EndpointToken, 1, waitTimeout))
	last, ok := h.sim.LastRequest(EndpointToken)
	require.True(t, ok)
	require.Equal(t, FaultDelay, last.Fault)
	require.Equal(t, GrantClientCredentials, last.Form.Get("grant_type"))
	h.clock.Add(2 * time.Hour) // the simulated clock does not end a real-time delay
	select {
	case r := <-held:
		t.Fatalf("a delayed request was answered early: %+v", r)
	default:
	}
	cancel()
	select {
	case r := <-held:
		require.ErrorIs(t, r.doErr, context.Canceled)
	case <-time.After(waitTimeout):
		t.Fatal("delayed request not released by the client going away")
	}
	require.Zero(t, h.sim.Grants(GrantClientCredentials), "a request abandoned while delayed is not served")

	// A short delay, then served normally and recorded once.
	h.sim.InjectFault(EndpointToken, Fault{Kind: FaultDelay, Delay: time.Millisecond})
	select {
	case r := <-send(t.Context()):
		require.NoError(t, r.doErr)
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		require.Contains(t, string(r.body), "access_token")
	case <-time.After(waitTimeout):
		t.Fatal("delayed request never served")
	}
	require.Equal(t, 2, h.sim.Requests(EndpointToken))
	require.Equal(t, 1, h.sim.Grants(GrantClientCredentials))

	// A malformed form is still refused after a delay.
	h.sim.InjectFault(EndpointToken, Fault{Kind: FaultDelay})
	r := h.raw(t.Context(), http.MethodPost, "/oauth2/token",
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, "%zz")
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Contains(t, string(r.body), "invalid_request")

	// Close drops a delayed request.
	h.sim.InjectFault(EndpointToken, Fault{Kind: FaultDelay, Delay: time.Hour})
	held = send(t.Context())
	require.NoError(t, h.sim.WaitRequests(EndpointToken, 4, waitTimeout))
	h.sim.Close()
	select {
	case r := <-held:
		require.Error(t, r.doErr)
	case <-time.After(waitTimeout):
		t.Fatal("delayed request not released by Close")
	}
}
