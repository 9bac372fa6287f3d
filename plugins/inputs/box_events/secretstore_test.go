package box_events

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/plugins/secretstores"
	"github.com/influxdata/telegraf/testutil"

	"github.com/telegraf-box/telegraf-box/internal/boxsim"
)

// memoryStore is a secret store holding its secrets in memory and counting
// the lookups, standing in for vault/jose/os in compiled-in mode.
type memoryStore struct {
	mu      sync.Mutex
	secrets map[string]string
	lookups int
}

func (*memoryStore) SampleConfig() string { return "" }
func (*memoryStore) Init() error          { return nil }

func (s *memoryStore) Get(key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lookups++
	v, ok := s.secrets[key]
	if !ok {
		return nil, errors.New("not found")
	}
	return []byte(v), nil
}

func (s *memoryStore) Set(key, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets[key] = value
	return nil
}

func (s *memoryStore) List() ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.secrets))
	for k := range s.secrets {
		keys = append(keys, k)
	}
	return keys, nil
}

func (s *memoryStore) GetResolver(key string) (telegraf.ResolveFunc, error) {
	return func() ([]byte, bool, error) {
		v, err := s.Get(key)
		return v, true, err // dynamic: looked up at every use, like a rotating secret
	}, nil
}

// TestSecretStore_CompiledIn loads the plugin from a Telegraf config whose
// client_secret is a secret-store reference, links it the way the agent
// does, and reads events: the secret is fetched from the store when a token
// is requested, never copied into the configuration.
func TestSecretStore_CompiledIn(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{Seed: 30})
	evs := sim.EmitEnterprise(3)
	store := &memoryStore{secrets: map[string]string{"box_client_secret": boxsim.DefaultClientSecret}}
	secretstores.Add("boxevents_memory", func(string) telegraf.SecretStore { return store })

	cfg := config.NewConfig()
	conf := fmt.Sprintf(`
[[secretstores.boxevents_memory]]
  id = "vault"

[[inputs.box_events]]
  base_url = %q
  stream_type = "admin_logs_streaming"
  start_position = "beginning"
  client_id = %q
  client_secret = "@{vault:box_client_secret}"
  subject_id = %q
  poll_interval = "1s"
`, sim.URL(), boxsim.DefaultClientID, boxsim.DefaultEnterpriseID)
	require.NoError(t, cfg.LoadConfigData([]byte(conf), config.EmptySourcePath))
	require.Len(t, cfg.Inputs, 1)
	p, ok := cfg.Inputs[0].Input.(*BoxEvents)
	require.True(t, ok)
	// What cfg.LinkSecrets does, for this plugin's secret only: Telegraf keeps
	// the unlinked secrets of every config loaded in the process in one
	// package-level list, so linking them all would trip over other tests'.
	resolvers := make(map[string]telegraf.ResolveFunc)
	for _, ref := range p.ClientSecret.GetUnlinked() {
		require.Equal(t, "@{vault:box_client_secret}", ref)
		resolver, err := cfg.SecretStores["vault"].GetResolver("box_client_secret")
		require.NoError(t, err)
		resolvers[ref] = resolver
	}
	require.NoError(t, p.ClientSecret.Link(resolvers)) // Telegraf calls each resolver once here
	store.mu.Lock()
	linked := store.lookups
	store.mu.Unlock()
	require.NoError(t, cfg.Inputs[0].Init())
	store.mu.Lock()
	require.Equal(t, linked, store.lookups, "Init reads no secret")
	store.mu.Unlock()

	acc := &testutil.Accumulator{}
	require.NoError(t, p.Start(acc))
	defer p.Stop()
	waitCommitted(t, p, &output{acc: acc}, sim.HeadPosition(boxsim.StreamAdminLogsStreaming))
	require.Equal(t, eventIDsOf(evs), eventIDs(acc.GetTelegrafMetrics()))
	store.mu.Lock()
	defer store.mu.Unlock()
	require.Greater(t, store.lookups, linked, "the token request read the secret from the store")
}

// A secret-store reference that no store was linked to (telegraf-box has no
// secret stores; compiled in, Telegraf links them before Init) can never be
// read. Init accepted it: the input started and every token request failed
// at run time, retried for ever, instead of a startup error naming the option.
func TestSecretStore_UnlinkedReferenceRefusedAtInit(t *testing.T) {
	sim := boxsim.NewTest(t, boxsim.Options{})
	for _, tt := range []struct {
		option string
		modify func(*BoxEvents, config.Secret)
	}{
		{"client_secret", func(p *BoxEvents, s config.Secret) { p.ClientSecret = s }},
		{"developer_token", func(p *BoxEvents, s config.Secret) { p.Auth = authDeveloperToken; p.DeveloperToken = s }},
	} {
		t.Run(tt.option, func(t *testing.T) {
			p := newPlugin(sim, "all")
			tt.modify(p, config.NewSecret([]byte("@{vault:box_"+tt.option+"}")))
			err := p.Init()
			require.ErrorContains(t, err, tt.option)
			require.ErrorContains(t, err, "@{vault:box_"+tt.option+"}")
			require.ErrorContains(t, err, "environment variable")
		})
	}
}
