declare module 'swagger-ui-dist' {
  /** Directory holding Swagger UI's built assets. */
  export function getAbsoluteFSPath(): string;
}
