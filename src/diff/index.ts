export * from "./ImageView.ts";
export * from "./compare.ts";
export { renderJson, renderMarkdown, renderText } from "./render.ts";
export type { TextOptions } from "./render.ts";
