export * from "./ImageView.ts";
export * from "./compare.ts";
export { renderJson, renderMarkdown, renderText } from "./render.ts";
export type { TextOptions } from "./render.ts";
export { diffIdentified, needsHashedPlans } from "./identified.ts";
export type { SideView } from "./identified.ts";
