// Package boxsim is a simulated Box server for unit tests, benchmarks, end-to-end tests
// and the -demo mode. It serves the parts of the Box API telegraf-box uses, the way
// Box really behaves (see BOX_API.md):
//
//   - POST /oauth2/token: client credentials, JWT bearer (RS256/384/512, exp, jti) and
//     rotating refresh tokens; tokens expire on the injected clock.
//   - GET /2.0/events: user streams (all, changes, sync) and enterprise streams
//     (admin_logs, admin_logs_streaming) with positions above 2^53, sent as JSON strings
//     or bare numbers, realistic event shapes, duplicates and disorder on the streaming
//     log, short pages and Box's 400/401/403 answers.
//   - OPTIONS /2.0/events and GET /subscribe: realtime channels and the long poll
//     (new_change, reconnect, max_retries) on the injected clock.
//   - Faults per endpoint, queued or random: 429, 5xx, proxy HTML, resets, truncated,
//     oversized and malformed bodies, hangs, 401.
//
// It deliberately does not import internal/boxevents: it builds its JSON from its own
// maps, so it checks the client independently.
//
// A typical test:
//
//	sim := boxsim.NewTest(t, boxsim.Options{Clock: mock})
//	sim.EmitUser(3)
//	// ... point the client at sim.URL() with sim.IssueToken(boxsim.SubjectUser) ...
//	require.NoError(t, sim.WaitRequests(boxsim.EndpointLongPoll, 1, 5*time.Second))
//	mock.Add(610 * time.Second) // the held long-poll now answers reconnect
package boxsim
