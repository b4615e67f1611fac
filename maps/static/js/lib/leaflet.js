/* Leaflet for the modules. xstatic-leaflet's leaflet.js is a classic script that defines the global L,
   and the map page's folium set-up is classic inline script that needs it too, so the pages load it
   with a plain <script> before any module (modules run after the document is parsed); this module is
   the one place that reads the global, and says so when it is missing. */
export const L = window.L;
if (!L) throw new Error("Leaflet is not loaded: the page must load leaflet.js before its modules");
