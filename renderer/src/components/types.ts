// Protocol shapes the components use, named once.
import type { z } from 'zod';
import type { CompileProblemSchema } from '../../../electron/protocol/schema';

export type CompileProblem = z.infer<typeof CompileProblemSchema>;
