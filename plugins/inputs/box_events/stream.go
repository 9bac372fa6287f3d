package box_events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/telegraf-box/telegraf-box/internal/boxevents"
)

const (
	// minPollSpacing and hastyMax space long polls that end at once without
	// news (reconnect, max_retries, a message of the realtime server's own):
	// such answers in a row wait a second, doubling up to a minute.
	minPollSpacing = time.Second
	hastyMax       = time.Minute
	// fruitlessMax bounds the wait before reading after a
	// new_change when the previous reads brought nothing new (no event, only
	// repeats, or only a newer position): a realtime server that keeps
	// announcing changes this stream does not show must not make the plugin
	// poll Box for ever. The wait doubles from a second.
	fruitlessMax = time.Minute
	// pollFallbackInterval is how often GET /events is read when the realtime
	// server refuses long polls without credentials, and pollFallbackFor how
	// long before the realtime server is tried again.
	pollFallbackInterval = 5 * time.Second
	pollFallbackFor      = time.Hour
	// defaultPositionRefresh is how often a stream that showed nothing is
	// read all the same: Box moves the position of an empty page on, and a
	// position left alone for weeks (a quiet changes stream) would fall out
	// of what Box keeps.
	defaultPositionRefresh = 6 * time.Hour
)

// userStream follows a user stream (all, changes, sync) with Box's long-poll
// protocol: drain, OPTIONS /events for a realtime server, long-poll it, and
// drain again on new_change.
type userStream struct {
	r         *reader
	server    *boxevents.RealtimeServer
	since     time.Time // when server was obtained
	polls     int       // long polls sent to server
	pending   bool      // drain before polling: a new_change, a rewind, a timeout, a failure, the start
	announced bool      // the pending drain answers a new_change
	fruitless int       // drains in a row after new_change that read no new event
	hasty     int       // long polls in a row answered at once without news
	// pollUntil is set when the realtime server refused a long poll without
	// credentials (which it is never sent): the stream is polled until then.
	pollUntil time.Time
	warned    bool
}

func newUserStream(r *reader) *userStream {
	return &userStream{r: r, pending: true}
}

func (s *userStream) step(ctx context.Context) (time.Duration, error) {
	r := s.r
	if err := r.ensurePosition(ctx); err != nil {
		return 0, err
	}
	if r.clock.Now().Before(s.pollUntil) {
		if _, err := r.drain(ctx); err != nil {
			return 0, err
		}
		return pollFallbackInterval, nil
	}
	if r.clock.Since(r.lastGet) >= r.cfg.positionRefresh {
		s.pending = true
	}
	if s.pending {
		if s.announced && s.fruitless > 0 {
			wait := doubling(s.fruitless, fruitlessMax) - r.clock.Since(r.lastGet)
			if wait > 0 && !sleep(ctx, r.clock, wait) {
				return 0, ctx.Err()
			}
		}
		progress, err := r.drain(ctx)
		if err != nil {
			return 0, err
		}
		switch {
		case progress:
			s.fruitless = 0
		case s.announced:
			s.fruitless++
		}
		s.pending, s.announced = false, false
	}
	if s.server == nil || s.expired() {
		srv, err := r.client.RealtimeServer(ctx, r.cfg.stream)
		if err != nil {
			s.server, s.pending = nil, true // see the long poll's errors below
			return 0, fmt.Errorf("getting a realtime server: %w", err)
		}
		s.server, s.since, s.polls = &srv, r.clock.Now(), 0
	}

	// A rejected page moves the position back; a poll still holding the
	// newer position would wait for news that were already read.
	pollCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-r.tracker.rewound:
			cancel()
		case <-pollCtx.Done():
		}
	}()
	pos, _ := r.tracker.position()
	started := r.clock.Now()
	msg, err := r.client.LongPoll(pollCtx, *s.server, pos)
	s.polls++
	if err != nil {
		if ctx.Err() == nil && pollCtx.Err() != nil {
			s.pending = true // rewound: read again from the committed position
			return 0, nil
		}
		s.server = nil
		if errors.Is(err, boxevents.ErrRealtimeRefused) {
			s.fallBackToPolling(err)
			return 0, nil
		}
		// Read the stream before the next try, at the pace of the retries: a
		// realtime server that cannot be reached (a firewall that lets only
		// the API host through, an outage) must not stop the stream.
		s.pending = true
		return 0, fmt.Errorf("long poll: %w", err)
	}
	switch msg {
	case boxevents.MessageNewChange:
		s.pending, s.announced, s.hasty = true, true, 0
		return 0, nil
	case boxevents.MessageTimeout:
		// No answer within retry_timeout: poll again, after checking for news
		// that a half-dead connection may have hidden.
		s.pending = true
		return 0, nil
	case boxevents.MessageReconnect, boxevents.MessageMaxRetries:
		s.server = nil
	default:
		r.log.Debugf("Unknown long-poll message %q; getting a new realtime server", msg)
		s.server = nil
	}
	// A realtime server that answers at once every time (one that lost its
	// channels, a broken node) must neither be polled in a loop nor leave the
	// stream unread until the position refresh: such answers in a row back
	// off, and the stream is read before the next poll.
	if elapsed := r.clock.Since(started); elapsed < minPollSpacing {
		s.hasty++
		s.pending = true
		return doubling(s.hasty, hastyMax) - elapsed, nil
	}
	s.hasty = 0
	return 0, nil
}

// fallBackToPolling switches to reading GET /events every few seconds: the
// realtime server wants credentials that are never sent to it (it is not a
// Box host reached over https). It is tried again after pollFallbackFor.
func (s *userStream) fallBackToPolling(err error) {
	s.pollUntil = s.r.clock.Now().Add(pollFallbackFor)
	s.pending = true
	if !s.warned {
		s.warned = true
		s.r.log.Warnf("The realtime server refused a long poll without credentials (%v); Box credentials are sent only to "+
			"the API host or over https to Box hosts, so the %s stream is polled every %s instead, and the realtime server "+
			"is tried again every %s", err, s.r.cfg.stream, pollFallbackInterval, pollFallbackFor)
	}
}

// expired reports whether the realtime server must be replaced: its
// max_retries polls were used or its ttl (minutes) passed. The ttl is compared
// in whole minutes: hundreds of millions of them overflow a time.Duration.
func (s *userStream) expired() bool {
	if s.server.MaxRetries > 0 && s.polls >= s.server.MaxRetries {
		return true
	}
	return s.server.TTL > 0 && s.r.clock.Since(s.since)/time.Minute >= time.Duration(s.server.TTL)
}
