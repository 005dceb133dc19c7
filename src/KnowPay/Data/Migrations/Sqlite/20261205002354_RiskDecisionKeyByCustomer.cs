using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace KnowPay.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class RiskDecisionKeyByCustomer : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropPrimaryKey(
                name: "pk_risk_decisions",
                table: "risk_decisions");

            migrationBuilder.DropIndex(
                name: "ix_risk_decisions_merchant_id_customer_id_created_at",
                table: "risk_decisions");

            migrationBuilder.AddPrimaryKey(
                name: "pk_risk_decisions",
                table: "risk_decisions",
                columns: new[] { "merchant_id", "customer_id", "created_at", "id" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropPrimaryKey(
                name: "pk_risk_decisions",
                table: "risk_decisions");

            migrationBuilder.AddPrimaryKey(
                name: "pk_risk_decisions",
                table: "risk_decisions",
                column: "id");

            migrationBuilder.CreateIndex(
                name: "ix_risk_decisions_merchant_id_customer_id_created_at",
                table: "risk_decisions",
                columns: new[] { "merchant_id", "customer_id", "created_at" });
        }
    }
}
