package boxsim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/require"
)

// waitTimeout bounds every real-time wait in the tests; nothing here sleeps.
const waitTimeout = 10 * time.Second

// harness is a simulator on a mock clock plus a client that never reuses connections,
// so a fault affects exactly one request.
type harness struct {
	t      *testing.T
	sim    *Server
	clock  *clock.Mock
	client *http.Client
}

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	mock := clock.NewMock()
	mock.Set(time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC))
	opts.Clock = mock
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	t.Cleanup(client.CloseIdleConnections)
	return &harness{t: t, sim: NewTest(t, opts), clock: mock, client: client}
}

// do sends a request and returns the status, headers and full body.
func (h *harness) do(ctx context.Context, method, path string, header http.Header, body io.Reader) (int, http.Header, []byte) {
	h.t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, h.sim.URL()+path, body)
	require.NoError(h.t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := h.client.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	return resp.StatusCode, resp.Header, b
}

func bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

// getEvents calls GET /2.0/events with the given query and token.
func (h *harness) getEvents(token string, query url.Values) (int, []byte) {
	h.t.Helper()
	status, _, body := h.do(context.Background(), http.MethodGet, "/2.0/events?"+query.Encode(), bearer(token), nil)
	return status, body
}

// page is an events page decoded with UseNumber: Position keeps the wire type
// (json.Number for a bare number, string for a JSON string).
type page struct {
	ChunkSize int
	Position  any
	Entries   []map[string]any
}

// digits returns the position's decimal text, whatever its JSON type.
func (p page) digits() string {
	switch v := p.Position.(type) {
	case json.Number:
		return v.String()
	case string:
		return v
	}
	return ""
}

func (p page) ids() []string {
	ids := make([]string, 0, len(p.Entries))
	for _, e := range p.Entries {
		ids = append(ids, e["event_id"].(string))
	}
	return ids
}

func decodePage(t *testing.T, body []byte) page {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw map[string]any
	require.NoError(t, dec.Decode(&raw), string(body))
	var p page
	n, err := raw["chunk_size"].(json.Number).Int64()
	require.NoError(t, err)
	p.ChunkSize = int(n)
	p.Position = raw["next_stream_position"]
	for _, e := range raw["entries"].([]any) {
		p.Entries = append(p.Entries, e.(map[string]any))
	}
	require.Len(t, p.Entries, p.ChunkSize)
	return p
}

// mustPage fetches a page that must succeed.
func (h *harness) mustPage(token string, query url.Values) page {
	h.t.Helper()
	status, body := h.getEvents(token, query)
	require.Equal(h.t, http.StatusOK, status, string(body))
	return decodePage(h.t, body)
}

// drain pages stream from position 0 with limit until a page is empty and returns the
// event ids in order.
func (h *harness) drain(token string, stream Stream, limit int) []string {
	h.t.Helper()
	var ids []string
	pos := "0"
	for range 10000 {
		p := h.mustPage(token, url.Values{
			"stream_type": {string(stream)}, "stream_position": {pos}, "limit": {strconv.Itoa(limit)},
		})
		if len(p.Entries) == 0 {
			return ids
		}
		ids = append(ids, p.ids()...)
		pos = p.digits()
	}
	h.t.Fatal("stream did not end")
	return nil
}

// postToken posts a form to /oauth2/token.
func (h *harness) postToken(form url.Values) (int, http.Header, map[string]any) {
	h.t.Helper()
	status, header, body := h.do(context.Background(), http.MethodPost, "/oauth2/token",
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, strings.NewReader(form.Encode()))
	var out map[string]any
	require.NoError(h.t, json.Unmarshal(body, &out), string(body))
	return status, header, out
}

func ccgForm(subjectType, subjectID string) url.Values {
	return url.Values{
		"grant_type": {GrantClientCredentials}, "client_id": {DefaultClientID},
		"client_secret": {DefaultClientSecret}, "box_subject_type": {subjectType}, "box_subject_id": {subjectID},
	}
}

// boxErrorCode decodes a Box ClientError body.
func boxErrorCode(t *testing.T, body []byte) (code, message string) {
	t.Helper()
	var e struct {
		Type    string `json:"type"`
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	require.NoError(t, json.Unmarshal(body, &e), string(body))
	require.Equal(t, "error", e.Type)
	return e.Code, e.Message
}
