// The in-memory destination used by fast run tests meets the same contract as the real ones.
import { createMemoryDestination } from './memory.ts';
import { runDestinationContract } from './contract.ts';

runDestinationContract(
  'Memory (test double)',
  async () => ({
    create: async () => createMemoryDestination(),
    failing: async () => {
      const d = createMemoryDestination();
      return {
        d,
        breakAfter: async (bytes) => {
          d.faults.breakAfterBytes = bytes;
        },
        heal: async () => {
          delete d.faults.breakAfterBytes;
        },
        stored: () => [...d.objects.keys()].sort(),
      };
    },
  }),
  {
    'upload to a stopped server fails clearly': 'an in-memory destination has no server; its failures are injected (faults)',
  },
);
