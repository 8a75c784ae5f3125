import type { SeedPlan } from '../store/seed.repository.js';

/** Sample accounts (password `password123`) and conversations for trying natter out. */
export const SAMPLE_PASSWORD = 'password123';

export const samplePlan = (passwordHash: string): SeedPlan => ({
  passwordHash,
  users: [
    { username: 'alice', email: 'alice@example.com', phone: '+15550100001' },
    { username: 'bob', email: 'bob@example.com', phone: null },
    { username: 'carol', email: 'carol@example.com', phone: null },
    { username: 'dave', email: 'dave@example.com', phone: null },
  ],
  directs: [
    ['alice', 'bob'],
    ['alice', 'carol'],
  ],
  groups: [{ name: 'Weekend plans', owner: 'alice', members: ['bob', 'carol', 'dave'] }],
  messages: {
    'alice:bob': [
      ['alice', 'Hi Bob! natter is up and running.'],
      ['bob', 'Nice, messages arrive instantly.'],
    ],
    'Weekend plans': [
      ['carol', 'Hiking on Saturday?'],
      ['dave', 'Count me in.'],
      ['alice', 'Same here, I will bring snacks.'],
    ],
  },
});
