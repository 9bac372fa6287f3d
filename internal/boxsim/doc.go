// Package boxsim is a simulated Box server for unit tests, benchmarks, end-to-end tests
// and the -demo mode. It serves the parts of the Box API telegraf-box uses, the way
// Box really behaves (see BOX_API.md):
//
//   - POST /oauth2/token: client credentials, JWT bearer (RS256/384/512, exp, jti, and
//     aud checked against https://api.box.com/oauth2/token only, wherever the assertion
//     is posted) and rotating refresh tokens; tokens expire on the injected clock.
//   - GET /2.0/events: user streams (all, changes, sync) and enterprise streams
//     (admin_logs, admin_logs_streaming) with positions above 2^53, sent as JSON strings
//     or bare numbers, realistic event shapes, duplicates and disorder on the streaming
//     log, admin_logs showing events late (AdminLogsDelay: Box buffers it about a
//     minute), short pages and Box's 400/401/403 answers. As on Box, next_stream_position
//     advances over entries a page's filters skipped (changes and sync views,
//     event_type, created_after/created_before), so empty pages move on too.
//   - Retention: each log keeps the newest MaxEvents events, and with Retention (or
//     StreamRetention, a time per log as on Box: admin_logs a year,
//     admin_logs_streaming two weeks) only those young enough on the clock. An older
//     position reads from the oldest retained event, or with RejectExpiredPositions
//     gets Box's 400 "Invalid stream position" (TrimmedThrough tells where the window
//     starts).
//   - OPTIONS /2.0/events and GET /subscribe: realtime channels and the long poll
//     (new_change, reconnect, max_retries) on the injected clock. Box's realtime server
//     is another host (http://N.realtime.services.box.net): StartRealtime serves the
//     long poll on a listener of its own, RealtimeHandler lets a test serve it itself
//     (over TLS, say), and Options.RealtimeURLBase makes OPTIONS name any host. The
//     realtime server may require a token (RealtimeRequiresAuth) or announce changes a
//     changes or sync stream does not show (RealtimeIgnoresStreamType).
//   - Faults per endpoint, queued or random: 429, 5xx, proxy HTML, resets, truncated,
//     oversized and malformed bodies, hangs, 401, redirects to another host, answers
//     delayed in real time, and Box's invalid-position 400.
//   - Scripted events: AddUserEvent and AddEnterpriseEvent for events with an id, and
//     AddRawEvent for any JSON object ({} included), served exactly as given.
//   - Traffic on a simulated timeline: EmitTraffic appends an enterprise's benign
//     activity over any stretch of simulated time (a Directory of employees in
//     Options.EnterpriseDomains, office hours, each user's own habits, a trickle of
//     external sharing, low-risk Shield alerts, rare admin changes), with attack
//     Scenarios injected at known times (failed-login bursts, password spraying,
//     mass download, external sharing, Shield alerts, privilege escalation, mass
//     deletion); InjectScenario appends one on its own. created_at follows the
//     timeline, not the clock, so a test builds days of traffic at once, and each
//     ScenarioReport names the user, address, time span and event ids injected.
//   - Synthetic backlogs for benchmarks: EmitBacklog appends millions of generated
//     events, with a rate of at-least-once repeats, as one run record per log; each
//     entry's position and JSON are computed from Seed and its index when a page serves
//     it, so a backlog costs no memory per event (ProducedCount counts it, BacklogInfo.ID
//     names its events).
//
// Every request is recorded (Requests, RequestLog, LastRequest, WaitRequests) with its
// headers, form, Host and whether the realtime handler served it, so tests can check
// what reached which host.
//
// It deliberately does not import internal/boxevents: it builds its JSON from its own
// maps, so it checks the client independently. Apart from FaultDelay, which waits in
// real time by design, everything runs on the injected clock and is reproducible from
// Options.Seed.
//
// A typical test:
//
//	sim := boxsim.NewTest(t, boxsim.Options{Clock: mock})
//	sim.EmitUser(3)
//	// ... point the client at sim.URL() with sim.IssueToken(boxsim.SubjectUser) ...
//	require.NoError(t, sim.WaitRequests(boxsim.EndpointLongPoll, 1, 5*time.Second))
//	mock.Add(610 * time.Second) // the held long-poll now answers reconnect
package boxsim
