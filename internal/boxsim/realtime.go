package boxsim

import (
	"encoding/json"
	"maps"
	"net/http"
	"strconv"
	"time"
)

// Long-poll answers (user-events/polling.md).
const (
	bodyNewChange  = `{"message":"new_change"}`
	bodyReconnect  = `{"version":1,"message":"reconnect"}`
	bodyMaxRetries = `{"message":"max_retries"}`
)

// maxChannels bounds the realtime channels kept alive at once.
const maxChannels = 1024

// channel is one realtime server URL handed out by OPTIONS.
type channel struct {
	stream  Stream // the stream it watches: "all" under Options.RealtimeIgnoresStreamType
	expires time.Time
	polls   int
}

// realtimeState holds the live channels. Server.mu guards it.
type realtimeState struct {
	channels map[string]*channel
}

// realtimeServer is one entry of OPTIONS /2.0/events. TTL and MaxRetries are strings
// on the wire unless Options.RealtimeFieldsAsNumbers.
type realtimeServer struct {
	Type         string          `json:"type"`
	URL          string          `json:"url"`
	TTL          json.RawMessage `json:"ttl"`
	MaxRetries   json.RawMessage `json:"max_retries"`
	RetryTimeout int             `json:"retry_timeout"`
}

// handleOptions serves OPTIONS /2.0/events: a fresh realtime channel, on the realtime
// base (see Options.RealtimeURLBase).
func (s *Server) handleOptions(w http.ResponseWriter, r *http.Request) {
	s.record(EndpointOptions, r, "")
	if _, ok := s.authorize(w, r); !ok {
		return
	}
	stream := Stream(r.URL.Query().Get("stream_type"))
	if stream == "" || stream.Enterprise() || !stream.valid() {
		stream = StreamAll // Box has no long poll for enterprise streams
	}

	s.mu.Lock()
	now := s.clock.Now()
	maps.DeleteFunc(s.realtime.channels, func(_ string, c *channel) bool { return !now.Before(c.expires) })
	if len(s.realtime.channels) >= maxChannels {
		for id := range s.realtime.channels { // arbitrary victim; only leaking clients get here
			delete(s.realtime.channels, id)
			break
		}
	}
	id := randomHex(s.trafficRnd, 10)
	watched := stream
	if s.opts.RealtimeIgnoresStreamType {
		watched = StreamAll
	}
	s.realtime.channels[id] = &channel{stream: watched, expires: now.Add(time.Duration(s.opts.TTL) * time.Minute)}
	s.mu.Unlock()

	field := func(n int) json.RawMessage {
		if s.opts.RealtimeFieldsAsNumbers {
			return json.RawMessage(strconv.Itoa(n))
		}
		return json.RawMessage(strconv.Quote(strconv.Itoa(n)))
	}
	writeJSON(w, http.StatusOK, struct {
		ChunkSize int              `json:"chunk_size"`
		Entries   []realtimeServer `json:"entries"`
	}{
		ChunkSize: 1,
		Entries: []realtimeServer{{
			Type:         "realtime_server",
			URL:          s.realtimeBase(r) + "/subscribe?channel=" + id + "&stream_type=" + string(stream),
			TTL:          field(s.opts.TTL),
			MaxRetries:   field(s.opts.MaxRetries),
			RetryTimeout: s.opts.RetryTimeout,
		}},
	})
}

// handleLongPoll serves GET /subscribe: new_change as soon as the channel's stream (the
// one OPTIONS was asked for, or "all" under Options.RealtimeIgnoresStreamType) has an
// event after stream_position, else reconnect after RetryTimeout seconds on the clock;
// max_retries once the channel was polled MaxRetries times; reconnect for an unknown or
// expired channel; 401 without a valid token under Options.RealtimeRequiresAuth. The
// request is recorded only once its timer is armed, so a test may advance a mock clock
// as soon as WaitRequests sees it.
func (s *Server) handleLongPoll(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	answer := func(body string) {
		writeBody(w, http.StatusOK, "application/json", []byte(body))
	}
	if s.opts.RealtimeRequiresAuth {
		if _, challenge := s.checkToken(r); challenge != "" {
			s.record(EndpointLongPoll, r, "")
			writeUnauthorized(w, challenge)
			return
		}
	}

	s.mu.Lock()
	s.store.expire(s.clock.Now())
	now := s.clock.Now()
	ch := s.realtime.channels[q.Get("channel")]
	if ch == nil || !now.Before(ch.expires) {
		s.recordLocked(EndpointLongPoll, r, "")
		s.mu.Unlock()
		answer(bodyReconnect)
		return
	}
	ch.polls++
	if ch.polls > s.opts.MaxRetries {
		s.recordLocked(EndpointLongPoll, r, "")
		s.mu.Unlock()
		answer(bodyMaxRetries)
		return
	}
	var pos uint64
	switch p := q.Get("stream_position"); p {
	case "", "now": // .NET legacy omits it: wait for events after the current head
		pos = s.store.log(ch.stream).head
	default:
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			s.recordLocked(EndpointLongPoll, r, "")
			s.mu.Unlock()
			s.writeInvalidParameter(w, "stream_position", p)
			return
		}
		pos = n
	}
	stream := ch.stream
	if s.store.hasAfter(stream, pos) {
		s.recordLocked(EndpointLongPoll, r, "")
		s.mu.Unlock()
		answer(bodyNewChange)
		return
	}
	wake := s.store.changed
	s.mu.Unlock()

	timer := s.clock.Timer(time.Duration(s.opts.RetryTimeout) * time.Second)
	defer timer.Stop()
	s.record(EndpointLongPoll, r, "")
	for {
		select {
		case <-wake:
			s.mu.Lock()
			ready := s.store.hasAfter(stream, pos)
			wake = s.store.changed
			s.mu.Unlock()
			if ready {
				answer(bodyNewChange)
				return
			}
		case <-timer.C:
			answer(bodyReconnect)
			return
		case <-r.Context().Done():
			return
		case <-s.done:
			panic(http.ErrAbortHandler) // drop the connection: the server went away
		}
	}
}
