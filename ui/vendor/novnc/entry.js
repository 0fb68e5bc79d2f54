// The bundle's entry: noVNC's RFB client as the module's default export.
import RFB from "@novnc/novnc";
export default RFB;
