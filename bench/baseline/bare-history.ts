/**
 * The bare history route: natter's own page query (listPage in
 * src/store/messages.repository.ts, on a database opened the way natter opens it, with the
 * same pool size and prepared statements) behind one Fastify route with no auth, no
 * membership check, no hooks and no per-request cache lookups, on the database a natter
 * history run seeded. What it serves per second is the ceiling of Fastify + pg + this
 * query on this machine, so natter's pages/s read as a fraction of it.
 *
 * The page is natter's page, in shape and size: the rows go through the same pure
 * conversions (viewedMessage, senderView) and out through natter's response
 * schema (fast-json-stringify, as natter serialises it: the ratio is then what natter adds,
 * not the difference between two serialisers). The reader is fixed
 * (READER_ID, the user whose token natter checks), and the participants' profiles
 * (PARTICIPANT_IDS) are read once at start: loading them per page would add a query
 * natter does not make (it has them cached), and leaving `sender` out would make the bare
 * page a third smaller, which is not overhead natter could shed.
 */
import Fastify from 'fastify';
import { loadConfig } from '../../src/config/config.js';
import { senderView } from '../../src/domain/messages.js';
import { HistoryPageSchema, MessageSchema } from '../../src/schemas/messages.js';
import { viewedMessage } from '../../src/services/messages.js';
import { UserSchema } from '../../src/schemas/users.js';
import { openDatabase } from '../../src/store/database.js';
import { listPage } from '../../src/store/messages.repository.js';
import { findUsersByIds } from '../../src/store/users.repository.js';

/** The seeded history has no attachments, so nothing is ever signed. */
const NO_LINKS = { url: () => '' };

const config = loadConfig(process.env);
const readerId = Number(process.env.READER_ID);
const participantIds = String(process.env.PARTICIPANT_IDS ?? '').split(',').filter(Boolean).map(Number);
const database = await openDatabase({
  databaseUrl: config.databaseUrl,
  dataDir: config.dataDir,
  poolSize: config.dbPoolSize,
  preparedStatements: config.dbPreparedStatements,
});
const senders = new Map((await findUsersByIds(database.db, participantIds)).map((u) => [u.id, senderView(u, readerId)]));

/** A query parameter as an integer, or undefined when absent. */
const int = (raw: string | undefined) => (raw === undefined ? undefined : Number.parseInt(raw, 10));

const app = Fastify({ logger: false });
app.addSchema(UserSchema);
app.addSchema(MessageSchema);
app.get<{ Params: { id: string }; Querystring: { limit?: string; before_seq?: string; after_seq?: string } }>(
  '/api/v1/conversations/:id/messages',
  { schema: { response: { 200: HistoryPageSchema } } },
  async (request) => {
    const { rows, hasMore } = await listPage(database.db, Number(request.params.id), readerId, {
      limit: Math.min(100, Math.max(1, int(request.query.limit) ?? 50)),
      beforeSeq: int(request.query.before_seq),
      afterSeq: int(request.query.after_seq),
    });
    return {
      messages: rows.map((r) => viewedMessage(r, r.sender_id === null ? null : (senders.get(r.sender_id) ?? null), readerId, NO_LINKS)),
      has_more: hasMore,
    };
  },
);

await app.listen({ port: config.port, host: '127.0.0.1' });
console.log('bare history ready');
const stop = () => {
  void app
    .close()
    .then(() => database.close())
    .finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 5000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
