package boxevents

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// longPollChannel is the channel id in the fuzzed real-time URL. It is a
// capability (anyone holding it can listen), so no error may quote it.
const longPollChannel = "cc807c9c4869ffb1c81a"

// longPollStub answers every request with one fixed response, so that the
// fuzzer drives LongPoll's whole read path (status, bounded body, decoding)
// without a network.
type longPollStub struct {
	status      int
	contentType string
	body        []byte
}

func (s longPollStub) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: s.status,
		Header:     http.Header{"Content-Type": {s.contentType}},
		Body:       io.NopCloser(bytes.NewReader(s.body)),
		Request:    req,
	}, nil
}

// FuzzLongPollBody feeds arbitrary real-time server answers to LongPoll: it
// never panics, a 2xx answer yields exactly the "message" member as the
// lenient decoder reads it (or an error when there is none), a non-2xx answer
// is an *APIError, and no error ever carries the token or the channel id.
func FuzzLongPollBody(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "longpoll_*.json"))
	require.NoError(f, err)
	require.NotEmpty(f, files)
	for _, name := range files {
		b, err := os.ReadFile(name)
		require.NoError(f, err)
		f.Add(http.StatusOK, "application/json", b)
	}
	for _, s := range []string{
		``, `{}`, `null`, `[]`, `{"message":null}`, `{"message":1}`, `{"message":true}`, `{"message":{"a":1}}`,
		`{"message":"new_change"} trailing`, `{"MESSAGE":"reconnect"}`, `{"message":"a","message":"b"}`,
		`{"message":"new_` + "\u0000" + `change"}`, `{"message":"new_change"`,
	} {
		f.Add(http.StatusOK, "application/json", []byte(s))
	}
	f.Add(http.StatusBadGateway, "text/html", readTestdata(f, "error_503.html"))
	f.Add(http.StatusUnauthorized, "", []byte(""))
	f.Add(http.StatusTooManyRequests, "application/json", readTestdata(f, "error_429.json"))

	f.Fuzz(func(t *testing.T, status int, contentType string, body []byte) {
		if status < 100 || status > 599 || status == http.StatusSwitchingProtocols {
			return
		}
		auth := &fakeAuth{tokens: []string{testToken}}
		c, err := New(Config{
			BaseURL:    "https://api.box.invalid",
			HTTPClient: &http.Client{Transport: longPollStub{status, contentType, body}},
			Auth:       auth,
		})
		require.NoError(t, err)
		srv := RealtimeServer{
			Type: "realtime_server",
			// A Box host over https, so that the poll carries the token (and a 401 is an
			// *APIError, not ErrRealtimeRefused); the stub transport means no network.
			URL: "https://2.realtime.services.box.net/subscribe?channel=" + longPollChannel + "&stream_type=all",
		}
		msg, err := c.LongPoll(t.Context(), srv, "1152922976252290886")
		if err != nil {
			require.NotContains(t, err.Error(), longPollChannel)
			require.NotContains(t, err.Error(), testToken)
			require.Empty(t, msg)
			if status < 200 || status > 299 {
				var apiErr *APIError
				require.ErrorAs(t, err, &apiErr)
				require.Equal(t, status, apiErr.StatusCode)
			}
			return
		}
		require.True(t, status >= 200 && status <= 299, "only a 2xx answer is a message")

		// Reference: encoding/json's struct decoding of the first JSON value
		// (the same field matching rules), then the lenient string rule.
		var ref struct {
			Message *json.RawMessage `json:"message"`
		}
		require.NoError(t, json.NewDecoder(bytes.NewReader(body)).Decode(&ref))
		require.NotNil(t, ref.Message)
		require.Equal(t, lenientString(*ref.Message), msg)
	})
}
