/** Errors of the interpreters area (routers that follow namerd or a dtab file). Codes are stable; tests assert them. */

export type InterpreterErrorCode =
  | 'MESH_ERR_INTERPRETER_CONFIG' // an interpreter's config has a bad value (dst, root, tls files)
  | 'MESH_ERR_INTERPRETER_RESPONSE' // namerd answered something we cannot read (status, JSON shape)
  | 'MESH_ERR_INTERPRETER_STREAM' // a watch stream to namerd failed or ended (the last state is kept)
  | 'MESH_ERR_INTERPRETER_DTAB'; // a configured dtab (io.l5d.fs dtabFile, io.l5d.k8s.configMap entry) is unreadable or not a dtab

export class InterpreterError extends Error {
  constructor(
    readonly code: InterpreterErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'InterpreterError';
  }
}

/** Where an interpreter's config came from, for error messages (`routers[0].interpreter`). */
export interface ConfigWhere {
  readonly file?: string;
  readonly keyPath?: string;
}

/** A config error naming the file, key path, what was found and what is allowed. */
export function interpreterConfigError(where: ConfigWhere | undefined, key: string, found: unknown, allowed: string): InterpreterError {
  const file = where?.file ? `${where.file}: ` : '';
  const keyPath = where?.keyPath ? `${where.keyPath}.${key}` : `interpreter.${key}`;
  return new InterpreterError('MESH_ERR_INTERPRETER_CONFIG', `${file}${keyPath}: found ${JSON.stringify(found) ?? 'undefined'}; allowed: ${allowed}`);
}
