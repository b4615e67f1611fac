/* The page's configuration: the JSON the server writes into
   <script type="application/json" id="gridtwin-config"> (data, never run), read once. */
const block = document.getElementById("gridtwin-config");

export const config = block ? JSON.parse(block.textContent) : {};
