/** Transformer build errors; stable codes, messages naming the kind, key and value. */
export type TransformerErrorCode =
  | 'MESH_ERR_TRANSFORMER_BAD_VALUE'
  | 'MESH_ERR_TRANSFORMER_MISSING_KEY'
  | 'MESH_ERR_TRANSFORMER_MISSING_ENV'
  | 'MESH_ERR_TRANSFORMER_UNKNOWN_KIND'
  | 'MESH_ERR_TRANSFORMER_NOT_SUPPORTED';

export class TransformerError extends Error {
  constructor(
    readonly code: TransformerErrorCode,
    message: string,
    readonly key?: string,
  ) {
    super(message);
    this.name = 'TransformerError';
  }
}
