import { defineModule } from '../platform/modules';
import { DeadLetterResolver } from './dead-letter.resolver';

/** The admin's view of inbound messages that could not be applied, and their retry. */
export const deadLettersModule = defineModule({
  name: 'dead-letters',
  create: ({ kernel }) => ({ deadLetters: kernel.deadLetters }),
  resolvers: [DeadLetterResolver],
});
